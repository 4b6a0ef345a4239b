"""Memory of a segmentation run with default flags: the crop follows small data (64-pixel digit
canvases are not upsampled to the model's 512-pixel nominal size, which took 10.5 GB of RAM
with a batch of 16), and the whole run's peak RSS stays under 2 GB on a CPU."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import zoo
from train import TrainConfig, build_data
from train.build import image_size
from train.outputs import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def test_segmentation_crop_defaults_to_the_datas_size_when_smaller(tmp_path):
    model = zoo.create_model("deeplabv3_tf_efficientnet_lite0")
    assert model.pretrained_cfg["input_size"][-1] == 512
    config = TrainConfig(model="deeplabv3_tf_efficientnet_lite0", data="digits")
    digits = build_data("digits", "segmentation")
    assert image_size(config, model, digits) == 64  # the canvases' own size
    assert image_size(TrainConfig(**{**config.to_dict(), "image_size": 128}), model, digits) == 128
    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
    for i, size in enumerate([(40, 30), (70, 50), (20, 20)]):  # rounded up to 96
        Image.new("RGB", size).save(tmp_path / "images" / f"{i}.png")
        Image.new("L", size).save(tmp_path / "masks" / f"{i}.png")
    masks = build_data(f"masks:{tmp_path}", "segmentation", num_classes=2)
    assert image_size(config, model, masks) == 96
    resnet = zoo.create_model("resnet20_cifar")  # classification keeps the model's size
    assert image_size(TrainConfig(model="resnet20_cifar", data="digits"), resnet,
                      build_data("digits", "classification")) == 32  # fmt: skip
    _, mask = digits.train[0]
    assert mask.dtype.itemsize == 1  # uint8 canvases, not int64


@pytest.mark.slow
def test_default_segmentation_run_peaks_under_2_gb(tmp_path):
    """Measured by the benchmark's ``--peak-rss``: Linux starts a child's ``ru_maxrss`` at its
    parent's RSS, so the small benchmark process launches the run, not this large one."""
    command = [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--peak-rss",
               "--", "--model", "deeplabv3_tf_efficientnet_lite0", "--data", "digits",
               "--epochs", "1", "--max-steps-per-epoch", "4", "--output", str(tmp_path),
               "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r"peak RSS (\d+) MiB \(training process\)", done.stdout)
    assert found, done.stdout
    assert int(found.group(1)) < 2048, done.stdout
    history = load_checkpoint(tmp_path)["history"]
    assert "confusion_matrix" not in history[0]  # written to its CSV, not kept per epoch
    assert (tmp_path / "confusion_matrix.csv").is_file()
