"""A hostile-input battery against the library: every case must raise a ``zoo.ZooError``
subclass with a message a person can act on, within seconds, and never leave a half-written
file. (The trainer's and the demo's batteries live beside their tests.)"""

from __future__ import annotations

import json
import os
import signal
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
from zoo.atomic import atomic_write

ROOT = Path(__file__).resolve().parents[2]

BAD_NAMES = [
    ("", zoo.UnknownModelError, "non-empty string"),
    ("   ", zoo.UnknownModelError, "non-empty string"),
    (None, zoo.UnknownModelError, "non-empty string"),
    (123, zoo.UnknownModelError, "non-empty string"),
    ("resnet5O", zoo.UnknownModelError, "Did you mean"),
    ("pspnet_resnet50.nosuchtag", zoo.UnknownModelError, "Unknown tag"),
    ("resnet50.bogus", zoo.UnknownModelError, r"Valid: .*resnet50\.a1_in1k"),
    ("hf-hub:", zoo.UnknownModelError, "hf-hub:org/name"),
    ("hf-hub:a/b/c", zoo.UnknownModelError, "hf-hub:org/name"),
    ("hf-hub:noslash", zoo.UnknownModelError, "hf-hub:org/name"),
    ("hf-hub:org/na me", zoo.UnknownModelError, "hf-hub:org/name"),
    ("hf-hub:org/name@v1@v2", zoo.UnknownModelError, "hf-hub:org/name"),
    ("hf-hub://", zoo.UnknownModelError, "hf-hub:org/name"),
    ("local-dir:", zoo.UnknownModelError, "no model id / path"),
    ("s3:bucket/model", zoo.UnknownModelError, "hf-hub:org/name or local-dir"),
    ("local-dir:/nonexistent/model", zoo.CheckpointError, "config.json is missing"),
]


@pytest.mark.parametrize(("name", "error", "message"), BAD_NAMES)
def test_bad_names_in_create_model_and_model_info(name, error, message):
    start = time.monotonic()
    with pytest.raises(error, match=message):
        zoo.create_model(name)
    with pytest.raises(error, match=message):
        zoo.model_info(name, check_availability=True)
    assert time.monotonic() - start < FAIL_FAST_S


BAD_ARGUMENTS = [
    ("resnet20_cifar", {"num_classes": -1}, zoo.ConfigError, "non-negative integer"),
    ("resnet20_cifar", {"num_classes": "3"}, zoo.ConfigError, "non-negative integer"),
    ("resnet20_cifar", {"num_classes": True}, zoo.ConfigError, "non-negative integer"),
    ("resnet20_cifar", {"num_classes": 2.5}, zoo.ConfigError, "non-negative integer"),
    ("fcn_tf_efficientnet_lite0", {"num_classes": 0}, zoo.ConfigError, "positive integer"),
    ("resnet20_cifar", {"bogus": 1}, zoo.ConfigError, "does not accept"),
    ("deeplabv3", {"output_stride": 4}, zoo.ConfigError, "output_stride must be 8, 16 or 32"),
    ("hrnetv2_w18", {"output_stride": 8}, zoo.ConfigError, r"hrnet_w18.*output_stride=8"),
    ("deeplabv3", {"backbone": "not_a_backbone"}, zoo.UnknownModelError, "not_a_backbone"),
    ("slstm_resnet50", {"scan": "spiral"}, ValueError, "scan"),
    ("pspnet_resnet50", {"pretrained": True}, zoo.WeightsUnavailableError, "no pretrained"),
    ("resnet20_cifar", {"pretrained": True}, zoo.WeightsUnavailableError, "pretrained=False"),
]


@pytest.mark.parametrize(("name", "kwargs", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments(name, kwargs, error, message):
    with pytest.raises(error, match=message):
        zoo.create_model(name, **kwargs)


def test_unknown_task_in_list_models():
    with pytest.raises(zoo.ConfigError, match="task must be one of"):
        zoo.list_models(task="detection")


def _saved(tmp_path: Path) -> Path:
    directory = tmp_path / "saved"
    zoo.save_pretrained(zoo.create_model("resnet20_cifar"), directory)
    return directory


CONFIGS = [
    ("[]", "JSON list, not an object"),
    ('"just a string"', "JSON str, not an object"),
    ("42", "JSON int, not an object"),
    ("{not json", "Cannot read"),
    ("{}", "no 'architecture'"),
    ('{"architecture": 7}', "no 'architecture'"),
    ('{"architecture": "resnet20_cifar", "num_classes": -1}', "integer from 0 to"),
    ('{"architecture": "resnet20_cifar", "num_classes": "ten"}', "integer from 0 to"),
    ('{"architecture": "resnet20_cifar", "pretrained_cfg": []}', "must be an object"),
    ('{"architecture": "no_such_arch", "num_classes": 10}', "not registered"),
]


@pytest.mark.parametrize(("text", "message"), CONFIGS)
def test_bad_config_json(tmp_path, text, message):
    directory = _saved(tmp_path)
    (directory / "config.json").write_text(text)
    with pytest.raises(zoo.CheckpointError, match=message):
        zoo.create_model(f"local-dir:{directory}")
    with pytest.raises(zoo.CheckpointError, match=message):
        zoo.model_info(f"local-dir:{directory}")


def test_config_json_that_is_not_utf8(tmp_path):
    directory = _saved(tmp_path)
    (directory / "config.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(zoo.CheckpointError, match="Cannot read"):
        zoo.create_model(f"local-dir:{directory}")


def test_config_json_with_arguments_the_architecture_refuses(tmp_path):
    directory = _saved(tmp_path)
    config = json.loads((directory / "config.json").read_text())
    config["model_args"]["bogus_argument"] = 21
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(zoo.ConfigError, match="does not accept"):
        zoo.create_model(f"local-dir:{directory}")


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage", "missing"])
def test_damaged_weights(tmp_path, damage):
    directory = _saved(tmp_path)
    weights = directory / "model.safetensors"
    data = weights.read_bytes()
    if damage == "truncate":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        weights.write_bytes(b"")
    elif damage == "garbage":
        weights.write_bytes(os.urandom(4096))
    else:
        weights.unlink()
    with pytest.raises(zoo.CheckpointError):
        zoo.create_model(f"local-dir:{directory}")


def test_weights_of_another_architecture(tmp_path):
    directory = _saved(tmp_path)
    other = tmp_path / "other"
    zoo.save_pretrained(zoo.create_model("resnet32_cifar"), other)
    (directory / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(zoo.CheckpointError, match="does not match"):
        zoo.create_model(f"local-dir:{directory}")


@pytest.mark.parametrize("content", [None, b"not a checkpoint", b"PK\x03\x04broken zip"])
def test_bad_weight_file_overlay(tmp_path, content):
    path = tmp_path / "weights.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(zoo.CheckpointError, match="Cannot read weights"):
        zoo.create_model("tf_efficientnet_lite0", pretrained=True,
                         pretrained_cfg_overlay={"file": str(path)})  # fmt: skip


def test_save_with_wrong_labels_or_palette(tmp_path):
    model = zoo.create_model("fcn_tf_efficientnet_lite0", num_classes=3)
    with pytest.raises(zoo.ConfigError, match="Expected 3 label names, got 2"):
        zoo.save_pretrained(model, tmp_path, labels=["a", "b"])
    with pytest.raises(zoo.ConfigError, match="Expected 3 palette colours, got 1"):
        zoo.save_pretrained(model, tmp_path, palette=[(0, 0, 0)])
    assert not any(tmp_path.iterdir())  # nothing written


def _png(path: Path, size: tuple[int, int], mode: str = "RGB") -> Path:
    Image.new(mode, size).save(path)
    return path


def test_image_battery(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    truncated = tmp_path / "cut.png"
    _png(tmp_path / "full.png", (64, 64))
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        truncated
    )
    truncated.write_bytes(truncated.read_bytes()[:300])
    cases = [
        (text, r"notes\.txt is not an image"),
        (truncated, r"cut\.png could not be decoded"),
        (tmp_path / "absent.png", "No image file"),
        (tmp_path, "No image file"),
        (b"\x00\x01garbage", "not an image"),
        (np.zeros((0, 5, 3), np.uint8), "empty"),
        (np.zeros((2, 3, 4, 5), np.uint8), r"Expected an \(H, W\)"),
        (np.zeros((4, 4, 2), np.uint8), r"Expected an \(H, W\)"),
        (_png(tmp_path / "strip.png", (30_000, 3)), "aspect ratio of 1:10000"),
        (_png(tmp_path / "column.png", (3, 30_000), "L"), "aspect ratio of 1:10000"),
        (_png(tmp_path / "huge.png", (8000, 7000), "L"), r"56\.0 megapixels"),
    ]
    for source, message in cases:
        start = time.monotonic()
        with pytest.raises(zoo.InvalidImageError, match=message):
            zoo.load_image(source)
        assert time.monotonic() - start < 2.0, source


def test_extreme_aspect_ratio_is_refused_before_any_resize(lite0):
    strip = Image.new("RGB", (30_000, 3))
    start = time.monotonic()
    with pytest.raises(zoo.InvalidImageError, match="aspect ratio"):
        zoo.classify(lite0, strip)
    assert time.monotonic() - start < FAIL_FAST_S  # was 25–35 s and +1.7 GB
    panorama = Image.new("RGB", (1900, 100))  # 1:19 still works
    assert len(zoo.classify(lite0, panorama, top_k=1)) == 1


def test_push_with_bad_repo_or_directory(tmp_path):
    with pytest.raises(zoo.ConfigError, match="org/name"):
        zoo.push_to_hub(zoo.create_model("resnet20_cifar"), "no-slash")
    with pytest.raises(zoo.CheckpointError, match=r"config\.json is missing"):
        zoo.push_to_hub(tmp_path, "org/name")


def test_unknown_dataset():
    with pytest.raises(
        zoo.ConfigError,
        match="known: ade20k, cityscapes, coco_voc, digits, digits-canvas, digits-hard, voc, ",
    ):
        zoo.dataset_info("kitti")


def test_a_writer_killed_half_way_leaves_no_truncated_file_and_its_temporary_goes(tmp_path):
    target = tmp_path / "last.pt"
    target.write_bytes(b"previous complete checkpoint")
    code = (
        "import sys, time\n"
        "from zoo.atomic import atomic_write\n"
        f"with atomic_write({str(target)!r}) as f:\n"
        "    f.write(b'x' * 1_000_000); f.flush(); print('writing', flush=True); time.sleep(60)\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    leftovers = list(tmp_path.glob(".last.pt.vzoo-tmp-*"))
    assert len(leftovers) == 1 and target.read_bytes() == b"previous complete checkpoint"
    with atomic_write(target) as file:  # the next start's first write cleans up
        file.write(b"new")
    assert not list(tmp_path.glob(".last.pt.vzoo-*")) and target.read_bytes() == b"new"


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "metrics.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target, "w") as file:
        file.write("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old" and not list(tmp_path.glob(".*vzoo-*"))


def test_hrnet_accepts_sizes_that_are_not_multiples_of_32():
    model = zoo.create_model("hrnetv2_w18", num_classes=2).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 97, 131)).shape == (1, 2, 97, 131)


TAMPERED = [
    (lambda c: c.update(num_classes=5), "re-initialise the classifier"),
    (lambda c: c.update(num_classes=10**9), "integer from 0 to 1,000,000"),
    (lambda c: c.update(model_args=None), "'model_args' must be an object"),
    (lambda c: c["pretrained_cfg"].update(interpolation="bogus"), "interpolation must be one of"),
    (lambda c: c["pretrained_cfg"].update(input_size=[3, 0, 0]), r"input_size must be \[C, H, W\]"),
    (lambda c: c["pretrained_cfg"].update(input_size=[3, 4000, 4000]), "≤ 2048"),
    (lambda c: c["pretrained_cfg"].update(input_size=None), r"input_size must be \[C, H, W\]"),
    (lambda c: c["pretrained_cfg"].update(std=[0, 0, 0]), "std must be positive"),
    (lambda c: c["pretrained_cfg"].update(mean="abc"), "mean must be 3 finite numbers"),
    (lambda c: c["pretrained_cfg"].update(mean=[float("nan")] * 3), "mean must be 3 finite"),
    (lambda c: c["pretrained_cfg"].update(crop_pct=100), r"crop_pct must be a number in \(0, 2\]"),
    (lambda c: c["pretrained_cfg"].update(paper_ids=5), "paper_ids must be a string"),
    (lambda c: c.update(label_names=5), "label_names must be 10 strings"),
    (lambda c: c.update(label_names=["a"] * 3), "label_names must be 10 strings"),
    (lambda c: c.update(palette=[[300, 0, 0]] * 10), r"palette must be 10 \[r, g, b\]"),
    (lambda c: c.update(metrics={"top1": [1]}), "metrics must map names"),
    (lambda c: c.update(task="detection"), "task must be one of"),
    (lambda c: c.update(test_resize={"mode": "stretch"}), "test_resize must be"),
]


@pytest.mark.parametrize(("tamper", "message"), TAMPERED)
def test_tampered_config_fields(tmp_path, tamper, message):
    directory = _saved(tmp_path)
    config = json.loads((directory / "config.json").read_text())
    tamper(config)
    (directory / "config.json").write_text(json.dumps(config))
    start = time.monotonic()
    for call in (zoo.create_model, zoo.model_info):
        with pytest.raises(zoo.CheckpointError, match=message):
            call(f"local-dir:{directory}")
    assert time.monotonic() - start < FAIL_FAST_S


def test_a_config_naming_another_architecture_family(tmp_path):
    directory = _saved(tmp_path)
    config = json.loads((directory / "config.json").read_text())
    config["architecture"] = "tf_efficientnet_lite0"
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(zoo.CheckpointError, match="is not a layer of 'tf_efficientnet_lite0'"):
        zoo.create_model(f"local-dir:{directory}")


SAVE_ARGUMENTS = [
    ({"labels": "cat"}, "labels must be a list of strings"),
    ({"labels": [1, 2, 3]}, "labels must be a list of strings"),
    ({"palette": [(0.1, 0.2, 0.3)] * 3 + [(300, 0, 0)]}, "integers 0–255"),
    ({"palette": "#ff0000"}, "integers 0–255"),
    ({"palette": [(1, 2)] * 3}, "integers 0–255"),
    ({"metrics": {"mIoU": float("nan")}}, "finite number"),
    ({"metrics": {"mIoU": object()}}, "finite number"),
    ({"metrics": "abc"}, "mapping"),
    ({"input_size": (3, 100_000, 100_000)}, "input_size must be"),
    ({"input_size": "abc"}, "input_size must be"),
]


@pytest.mark.parametrize(("kwargs", "message"), SAVE_ARGUMENTS)
def test_bad_save_arguments(tmp_path, kwargs, message):
    model = zoo.create_model("fcn_tf_efficientnet_lite0", num_classes=3)
    with pytest.raises(zoo.ConfigError, match=message):
        zoo.save_pretrained(model, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_save_targets_and_models_that_cannot_be_saved(tmp_path):
    model = zoo.create_model("resnet20_cifar")
    a_file = tmp_path / "file"
    a_file.write_text("keep me")
    for directory in (a_file, a_file / "below", ""):
        with pytest.raises(zoo.ZooError):
            zoo.save_pretrained(model, directory, replace=True)
    assert a_file.read_text() == "keep me"
    for bad in (torch.nn.Linear(2, 2), torch.nn.DataParallel(model), None):
        with pytest.raises(zoo.ConfigError, match=r"zoo\.create_model or timm"):
            zoo.save_pretrained(bad, tmp_path / "x")

    zoo.save_pretrained(model, tmp_path / "ok", metrics={"top1": np.float32(0.5)})  # numpy ok
    assert zoo.model_info(f"local-dir:{tmp_path / 'ok'}").metrics == {"top1": 0.5}


def test_saved_files_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        directory = zoo.save_pretrained(zoo.create_model("resnet20_cifar"), tmp_path / "m")
        swapped = zoo.save_pretrained(zoo.create_model("resnet20_cifar"), tmp_path / "b",
                                      replace=True)  # fmt: skip
    finally:
        os.umask(old)
    for path in (
        directory / "model.safetensors",
        directory / "config.json",
        swapped / "config.json",
    ):
        assert path.stat().st_mode & 0o777 == 0o644, path
    assert swapped.stat().st_mode & 0o777 == 0o755


def test_more_image_sources():
    for source in (None, 5, [1, 2, 3], torch.zeros(3, 8, 8), np.array([["a", "b"]])):
        with pytest.raises(zoo.InvalidImageError, match="Expected"):
            zoo.load_image(source)
    with pytest.raises(zoo.InvalidImageError, match="NaN or infinite"):
        zoo.load_image(np.full((8, 8, 3), np.nan))
    png = io_bytes(Image.new("RGB", (4, 4), (10, 20, 30)))
    assert zoo.load_image(bytearray(png)).getpixel((0, 0)) == (10, 20, 30)
    assert zoo.load_image(memoryview(png)).size == (4, 4)
    assert zoo.load_image(np.ones((4, 4), bool)).getpixel((0, 0)) == (255, 255, 255)


def io_bytes(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_classify_rejects_bad_top_k_and_non_classifiers(lite0, photos):
    for top_k in (0, -1, 2.5, True, None):
        with pytest.raises(zoo.ConfigError, match="top_k"):
            zoo.classify(lite0, photos["coffee.png"], top_k=top_k)
    segmenter = zoo.create_model("fcn_tf_efficientnet_lite0", num_classes=2)
    with pytest.raises(zoo.ConfigError, match="needs a classifier"):
        zoo.classify(segmenter, photos["coffee.png"])


def test_more_bad_names_and_repos():
    with pytest.raises(zoo.UnknownModelError, match="Unknown tag 'bogus' for 'resnet50'"):
        zoo.create_model("deeplabv3", backbone="resnet50.bogus")
    for repo in ("a/b c", "../..", "org/", 5):
        with pytest.raises(zoo.ConfigError, match="org/name"):
            zoo.push_to_hub(zoo.create_model("resnet20_cifar"), repo)
    with pytest.raises(zoo.ConfigError, match="more than 1,000,000"):
        zoo.create_model("resnet20_cifar", num_classes=10**9)
    with pytest.raises(zoo.ConfigError, match="more than 1,000,000"):
        zoo.get_labels({"num_classes": 10**12})
