"""What users did that used to answer with a foreign exception, a page of text or a silent
no-op: each is now one clear line (a ``zoo.ZooError``; exit status 2 in a CLI)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from tests.conftest import FAIL_FAST_S
from zoo.__main__ import main

from .test_segment import tiny

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def saved_segmenter(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny"
    zoo.save_pretrained(tiny(input_size=(3, 64, 64)), path, labels=["bg", "rock", "sky"])
    return path


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory, photos):
    folder = tmp_path_factory.mktemp("photos")
    Image.open(photos["coffee.png"]).resize((64, 48)).save(folder / "coffee.png")
    return folder


def _one_line(text: str) -> str:
    assert text.count("\n") == 1 and "Traceback" not in text, text[-3000:]
    return text


def test_segment_video_into_a_folder_that_cannot_be_written(tmp_path, photos):
    pytest.importorskip("av")
    from .test_video import write_clip

    clip = write_clip(tmp_path / "c.mp4", Image.open(photos["coffee.png"]).convert("RGB"), 0.5)
    with pytest.raises(zoo.ConfigError, match=r"/proc/o\.mp4.*folder") as info:
        zoo.segment_video(tiny(input_size=(3, 64, 64)), clip, "/proc/o.mp4", progress=False)
    assert "\n" not in str(info.value)


def test_export_at_an_impossible_input_size(saved_segmenter, tmp_path, capfd):
    start = time.monotonic()
    argv = ["export", f"local-dir:{saved_segmenter}", "--out", str(tmp_path / "x.onnx"),
            "--input-size", "100000", "100000"]  # fmt: skip
    assert main(argv) == 2
    assert "10000 megapixels" in _one_line(capfd.readouterr().err)
    assert time.monotonic() - start < FAIL_FAST_S and not list(tmp_path.iterdir())


def test_export_of_something_that_is_not_a_model(tmp_path):
    with pytest.raises(zoo.ConfigError, match=r"a model .* or a model name, got int"):
        zoo.export(42, tmp_path / "m.onnx")


def test_predict_with_weights_that_are_not_a_checkpoint(tmp_path, photo_dir, capfd):
    not_weights = tmp_path / "arrays.pth"
    torch.save({"stem.weight": np.zeros(3)}, not_weights)  # numpy, not tensors
    argv = ["predict", str(photo_dir), "--model", "tf_efficientnet_lite0", "--weights",
            str(not_weights), "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(argv) == 2
    err = _one_line(capfd.readouterr().err)
    assert "besides tensors" in err and "state_dict" in err
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    assert main([*argv[:-3], str(text), "--out", str(tmp_path / "o")]) == 2
    assert "not a PyTorch checkpoint" in _one_line(capfd.readouterr().err)


def test_export_at_an_opset_out_of_range_prints_nothing_else(tmp_path, capfd):
    pytest.importorskip("onnxruntime")
    model = tiny(input_size=(3, 64, 64))
    with pytest.raises(zoo.ConfigError, match="opset must be an integer from 7 to 20"):
        zoo.export(model, tmp_path / "m.onnx", opset=5)
    person = zoo.create_model("mediapipe_selfie", pretrained=True)  # needs opset 16
    with pytest.raises(zoo.ZooError) as info:
        zoo.export(person, tmp_path / "p.onnx", opset=9)
    assert "\n" not in str(info.value) and "grid_sampler" in str(info.value)
    captured = capfd.readouterr()
    assert captured.out == "" and "graph(" not in captured.err  # no graph dump
    assert not list(tmp_path.iterdir())


def test_predict_into_the_input_folder_says_so(saved_segmenter, photo_dir, capfd):
    argv = ["predict", str(photo_dir), "--model", f"local-dir:{saved_segmenter}",
            "--out", str(photo_dir)]  # fmt: skip
    assert main(argv) == 2
    err = _one_line(capfd.readouterr().err)
    assert "--out" in err and "input folder" in err and "No images" not in err
    assert sorted(p.name for p in photo_dir.iterdir()) == ["coffee.png"]


def test_tta_scales_given_as_numpy_numbers():
    model = tiny(input_size=(3, 64, 64))
    image = np.zeros((40, 50, 3), np.uint8)
    as_numpy = zoo.segment(model, image, tta=(np.float32(1.0), np.float64(0.5)), return_probs=True)
    as_float = zoo.segment(model, image, tta=(1.0, 0.5), return_probs=True)
    assert torch.equal(as_numpy.probs, as_float.probs)
    with pytest.raises(zoo.ConfigError, match="tta"):
        zoo.segment(model, image, tta=(np.float32("nan"),))


def test_segment_with_a_bare_torch_module():
    with pytest.raises(zoo.ConfigError, match="Conv2d has no pretrained_cfg") as info:
        zoo.segment(torch.nn.Conv2d(3, 2, 1), np.zeros((8, 8, 3), np.uint8))
    assert "classification model" not in str(info.value)


def test_predict_a_classifier_with_flip_tta(photo_dir, tmp_path, capsys, lite0):
    import csv

    photo = tmp_path / "square.png"  # a square 256² photo: the centre crop commutes with a flip
    Image.open(photo_dir / "coffee.png").convert("RGB").resize((256, 256)).save(photo)
    mirror = Image.open(photo).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    plain = dict(zoo.classify(lite0, photo, top_k=1000))
    flipped = dict(zoo.classify(lite0, mirror, top_k=1000))
    averaged = zoo.classify(lite0, photo, top_k=3, tta="flip")
    for label, probability in averaged:
        assert probability == pytest.approx((plain[label] + flipped[label]) / 2, abs=1e-5)
    argv = ["predict", str(photo), "--model", "tf_efficientnet_lite0", "--top-k", "3",
            "--out", str(tmp_path / "o")]  # fmt: skip
    assert main([*argv, "--tta", "flip"]) == 0
    row = next(csv.DictReader((tmp_path / "o" / "predictions.csv").open()))
    label, probability = averaged[0]
    assert row["classes"].split("; ")[0] == f"{label}={probability:.4f}"
    assert main([*argv, "--mode", "slide"]) == 2
    assert "--mode applies to segmentation" in capsys.readouterr().err


def test_commands_refuse_a_bad_export_size_before_loading_anything(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "zoo", "export", "tf_efficientnet_lite0", "--out",
         str(tmp_path / "m.onnx"), "--input-size", "1", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 2 and "too small" in _one_line(run.stderr)


def test_classify_with_an_unknown_tta(lite0):
    with pytest.raises(zoo.ConfigError, match="tta must be None or 'flip'"):
        zoo.classify(lite0, np.zeros((32, 32, 3), np.uint8), tta=(0.5, 1.0))
