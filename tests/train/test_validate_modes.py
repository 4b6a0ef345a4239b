"""``train.validate`` beyond one whole-image pass: classification's per-class accuracy and
confusion matrix, flip TTA, sliding windows (the same predictions as ``zoo.segment``), the
confusion-matrix PNG, and sharded evaluation under ``torchrun`` (the same numbers as one
process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

import zoo
from train.data import build_data
from train.evaluation import evaluate_classification
from train.metrics import SegmentationMetrics
from train.validate import main, validate

ROOT = Path(__file__).resolve().parents[2]


class LeftRight(nn.Module):
    """Logits ``[4·left, 2·right, 0.5]`` from the mean brightness of each half of the image:
    a mirror image changes its answer, so flip TTA does too."""

    def __init__(self) -> None:
        super().__init__()
        self.pretrained_cfg = {"input_size": (3, 8, 8), "crop_pct": 1.0, "mean": (0, 0, 0),
                               "std": (1, 1, 1)}  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        left, right = x[..., :4].mean((1, 2, 3)), x[..., 4:].mean((1, 2, 3))  # (B,) each
        return torch.stack([4 * left, 2 * right, torch.full_like(left, 0.5)], 1)  # (B, 3)


def _halves(left: int, right: int) -> Image.Image:
    pixels = np.zeros((8, 8, 3), np.uint8)
    pixels[:, :4], pixels[:, 4:] = left, right
    return Image.fromarray(pixels)


def test_classification_per_class_accuracy_and_confusion_by_hand():
    bright, dark = 255, 0
    samples = [(_halves(bright, dark), 0)] * 3 + [(_halves(dark, bright), 1)] * 2
    samples += [(_halves(dark, dark), 2), (_halves(dark, dark), 0)]
    plain = evaluate_classification(LeftRight(), samples, 3, batch_size=3)
    # left-bright → 0 (3 right), right-bright → 1 (2 right), dark → 2 (one right, one a 0)
    assert plain["confusion_matrix"] == [[3, 0, 1], [0, 2, 0], [0, 0, 1]]
    assert plain["per_class_acc"] == pytest.approx([0.75, 1.0, 1.0])
    assert plain["top1"] == pytest.approx(6 / 7) and plain["top5"] == 1.0  # top-3 of 3 classes
    assert plain["images"] == 7
    # flip: the mean of softmax([4, 0, .5]) and softmax([0, 2, .5]) is class 0 for both halves
    flipped = evaluate_classification(LeftRight(), samples, 3, batch_size=3, tta="flip")
    assert flipped["confusion_matrix"] == [[3, 0, 1], [2, 0, 0], [0, 0, 1]]
    assert flipped["per_class_acc"] == pytest.approx([0.75, 0.0, 1.0])
    assert flipped["top1"] == pytest.approx(4 / 7)
    # the loss is the NLL of the averaged probabilities (a mirror pair averages the same)
    pair = (torch.tensor([4.0, 0, 0.5]).softmax(0) + torch.tensor([0, 2.0, 0.5]).softmax(0)) / 2
    dark_p = torch.tensor([0, 0, 0.5]).softmax(0)
    nll = -(3 * pair[0].log() + 2 * pair[1].log() + dark_p[2].log() + dark_p[0].log()) / 7
    assert flipped["val_loss"] == pytest.approx(float(nll), rel=1e-5)


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory) -> str:
    """A random FCN whose 32-pixel crop makes the 64-pixel digit canvases slide (3×3 windows)."""
    directory = tmp_path_factory.mktemp("fcn")
    torch.manual_seed(0)
    model = zoo.create_model("fcn", backbone="test_resnet", num_classes=11, aux_head=False,
                             output_stride=8, pretrained_backbone=False)  # fmt: skip
    data = build_data("digits", "segmentation")
    zoo.save_pretrained(model, directory, labels=data.classes, dataset="digits-canvas",
                        input_size=(3, 32, 32))  # fmt: skip
    config = json.loads((directory / "config.json").read_text())
    config["test_resize"] = {"mode": "keep_ratio", "size": [64, 64]}  # 64-pixel canvases stay
    (directory / "config.json").write_text(json.dumps(config))
    return f"local-dir:{directory}"


def test_slide_and_flip_predict_what_zoo_segment_predicts(segmenter, monkeypatch):
    seen: list[tuple[int, ...]] = []
    original = zoo.create_model

    def with_hook(*args, **kwargs):
        model = original(*args, **kwargs)
        model.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))
        return model

    monkeypatch.setattr(zoo, "create_model", with_hook)
    result = validate(segmenter, "digits", device="cpu", limit=3, mode="slide", tta="flip")
    # 3 canvases × 2 (flip) forward passes of 9 windows each, in batches of 4 windows
    assert sorted(set(seen)) == [(1, 3, 32, 32), (4, 3, 32, 32)] and len(seen) == 3 * 2 * 3
    model = original(segmenter, pretrained=True)
    reference = SegmentationMetrics(11)
    data = build_data("digits", "segmentation")
    for index in range(3):
        image, mask = data.val[index]
        picture = Image.fromarray(image.permute(1, 2, 0).numpy())
        predicted = zoo.segment(model, picture, mode="slide", tta="flip").mask
        reference.update(torch.from_numpy(predicted.astype(np.int64))[None], mask[None])
    ours, theirs = np.asarray(result["confusion_matrix"]), reference.confusion_matrix().numpy()
    assert ours.sum() == theirs.sum() == 3 * 64 * 64
    assert np.abs(ours - theirs).sum() <= 0.002 * ours.sum()  # float rounding at near-ties
    assert result["mode"] == "slide" and result["tta"] == "flip"
    whole = validate(segmenter, "digits", device="cpu", limit=3)
    assert whole["confusion_matrix"] != result["confusion_matrix"]  # the options did something


def test_confusion_matrix_png_and_options_on_the_command_line(segmenter, tmp_path, capsys):
    png, out = tmp_path / "cm.png", tmp_path / "m.json"
    code = main(["--model", segmenter, "--data", "digits", "--limit", "2", "--device", "cpu",
                 "--workers", "0", "--tta", "flip", "--out", str(out),
                 "--confusion-matrix", str(png)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0 and "(val, 2 images, whole, flip)" in printed
    with Image.open(png) as picture:
        assert picture.format == "PNG" and min(picture.size) >= 300
        colours = np.asarray(picture.convert("L"))
        assert colours.min() < 100 and colours.max() > 200  # drawn, not blank
    assert json.loads(out.read_text())["tta"] == "flip"
    code = main(["--model", segmenter, "--data", "digits", "--confusion-matrix", str(tmp_path)])
    assert code == 2 and "is a directory" in capsys.readouterr().err


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> str:
    directory = tmp_path_factory.mktemp("resnet20")
    torch.manual_seed(0)
    model = zoo.create_model("resnet20_cifar", num_classes=10)
    zoo.save_pretrained(model, directory, labels=[str(d) for d in range(10)], dataset="digits",
                        input_size=(3, 32, 32))  # fmt: skip
    return f"local-dir:{directory}"


def test_mode_is_for_segmentation_only(classifier, capsys):
    code = main(["--model", classifier, "--data", "digits", "--mode", "slide", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--mode slide is for segmentation" in err


def _torchrun(args: list[str], out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", "2", "-m", "train.validate", *args, "--device", "cpu",
               "--workers", "0", "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count(" on digits (") == 1, done.stdout  # one report, from rank 0
    return json.loads(out.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "segmentation"])
def test_two_processes_give_the_numbers_of_one(task, classifier, segmenter, tmp_path):
    """Each process evaluates every other image (37: the shards are uneven) and torchmetrics
    sums their states."""
    model = classifier if task == "classification" else segmenter
    args = ["--model", model, "--data", "digits", "--limit", "37"]
    sharded = _torchrun(args, tmp_path / "two.json")
    single = validate(model, "digits", device="cpu", limit=37)
    assert sharded["images"] == single["images"] == 37
    assert sharded["confusion_matrix"] == single["confusion_matrix"]
    for metric in ("top1", "top5", "mIoU", "aAcc", "mAcc"):
        if metric in single:
            assert sharded[metric] == pytest.approx(single[metric], abs=1e-9)
    if task == "classification":
        assert sharded["val_loss"] == pytest.approx(single["val_loss"], rel=1e-5)


def test_seed_picks_the_training_runs_validation_split():
    """digits is split at random by the run's seed: validating seed 1's model on seed 0's split
    would score images it trained on."""
    from train.eval_data import open_split

    for seed in (0, 1):
        ours = open_split("digits", "classification", "val", 10, seed).val
        trainer = build_data("digits", "classification", seed).val
        assert np.array_equal(ours.images, trainer.images)
    other = open_split("digits", "classification", "val", 10, 1).val
    assert not np.array_equal(other.images, build_data("digits", "classification", 0).val.images)
