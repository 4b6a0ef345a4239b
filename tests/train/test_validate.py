"""``python -m train.validate``: mmsegmentation's metrics on hand-checked cases, the test-time
resize the model sees, the published-metric comparison, classification, and bad inputs (exit
2 with one line)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision import tv_tensors

import train
import zoo
from tests.train.conftest import save_gray
from tests.train.layouts import ade20k_image, cityscapes_frame
from train.evaluation import evaluate_segmentation
from train.validate import main, validate

ROOT = Path(__file__).resolve().parents[2]
CITYSCAPES = list(zoo.dataset_info("cityscapes").labels)
# Cityscapes label ids (gtFine_labelIds) used below and their train ids
ROAD, CAR, PERSON, UNLABELED, EGO_VEHICLE = 7, 26, 24, 0, 1


def _constant_model(directory: Path, test_resize: dict | None = None, **save: object) -> str:
    """A 19-class FCN that predicts class 0 (road) everywhere, saved as a local directory."""
    torch.manual_seed(0)
    model = zoo.create_model("fcn", backbone="test_resnet", num_classes=19, aux_head=False,
                             output_stride=32, pretrained_backbone=False)  # fmt: skip
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[0] = 1.0
    zoo.save_pretrained(model, directory, labels=CITYSCAPES, dataset="cityscapes", **save)
    if test_resize is not None:
        config = json.loads((directory / "config.json").read_text())
        (directory / "config.json").write_text(json.dumps({**config, "test_resize": test_resize}))
    return f"local-dir:{directory}"


@pytest.fixture(scope="module")
def road_model(tmp_path_factory):
    return _constant_model(tmp_path_factory.mktemp("road"), metrics={"mIoU": 20.0})


@pytest.fixture(scope="module")
def cityscapes_ids(tmp_path_factory):
    """Two val frames with label ids (not train ids), of different sizes: 192 labelled pixels,
    112 of them road."""
    root = tmp_path_factory.mktemp("cityscapes")
    first = np.full((8, 16), ROAD)  # (H, W): left half road
    first[:4, 8:], first[4:, 8:] = CAR, UNLABELED  # right: 32 car, 32 ignored
    second = np.full((12, 12), ROAD)  # top third road (48)
    second[4:8], second[8:] = PERSON, EGO_VEHICLE  # 48 person, 48 ignored
    cityscapes_frame(root, "val", "frankfurt", 1, first, kind="labelIds")
    cityscapes_frame(root, "val", "lindau", 2, second, kind="labelIds")
    return f"cityscapes:{root}"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--device", "cpu", "--workers", "0"])
    out, err = capsys.readouterr()
    return code, out, err


# -- metrics ----------------------------------------------------------------------------------
def test_constant_prediction_metrics_by_hand(road_model, cityscapes_ids, tmp_path, capsys):
    out_file = tmp_path / "metrics.json"
    code, out, err = _run(capsys, "--model", road_model, "--data", cityscapes_ids, "--out",
                          str(out_file))  # fmt: skip
    assert code == 0, err
    result = json.loads(out_file.read_text())
    per_class = {row.pop("class"): row for row in result["per_class"]}
    assert list(per_class) == CITYSCAPES
    # road: TP 112 of 192 labelled pixels; the 32 car and 48 person pixels are false positives
    road_iou = 100 * 112 / (112 + 80)
    assert per_class["road"] == {"IoU": pytest.approx(road_iou), "Acc": 100.0}
    assert per_class["car"] == {"IoU": 0.0, "Acc": 0.0}
    assert per_class["person"] == {"IoU": 0.0, "Acc": 0.0}
    assert per_class["wall"] == {"IoU": None, "Acc": None}  # absent: not averaged
    assert result["aAcc"] == pytest.approx(100 * 112 / 192)
    assert result["mIoU"] == pytest.approx(road_iou / 3)  # road, car, person
    assert result["mAcc"] == pytest.approx(100 / 3)
    assert np.asarray(result["confusion_matrix"]).sum() == 192  # ignored pixels left out
    assert result["images"] == 2 and result["split"] == "val"
    # the model's config records mIoU 20.0 on Cityscapes: printed beside ours
    assert result["published_mIoU"] == 20.0
    assert result["mIoU_difference"] == pytest.approx(road_iou / 3 - 20.0)
    assert "aAcc 58.33  mIoU 19.44  mAcc 33.33" in out
    assert "reference mIoU 20.00 (recorded in its config.json), ours 19.44, difference -0.56" in out
    assert "| road " in out and "|  58.33 | 100.00 |" in out and "|    nan |    nan |" in out


class RedIsClassOne(nn.Module):
    """Class 1 where the (un-normalised) red channel is above 0.5, else class 0; never 2."""

    num_classes = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        red = x[:, 0]  # (B, H, W)
        return torch.stack([0.5 - red, red - 0.5, torch.full_like(red, -1.0)], 1)  # (B, 3, H, W)


def test_predictions_are_compared_pixel_by_pixel():
    pixels = np.zeros((2, 4, 3), np.uint8)
    pixels[:, 2:, 0] = 255  # red right half → predicted [[0, 0, 1, 1], [0, 0, 1, 1]]
    label = torch.tensor([[0, 1, 1, 255], [0, 0, 1, 2]], dtype=torch.uint8)
    pairs = [(Image.fromarray(pixels), tv_tensors.Mask(label))]
    scores = evaluate_segmentation(RedIsClassOne(), pairs, 3, None, (0, 0, 0), (1, 1, 1))
    # class 0: TP 3, FP 1 (a 1 at (0, 1)); class 1: TP 2, FN 1, FP 1 (the 2 at (1, 3)); class 2:
    # FN 1. 7 labelled pixels, 5 right.
    assert scores["per_class_iou"] == pytest.approx([3 / 4, 2 / 4, 0.0])
    assert scores["per_class_acc"] == pytest.approx([1.0, 2 / 3, 0.0])
    assert scores["mIoU"] == pytest.approx(1.25 / 3)
    assert scores["mAcc"] == pytest.approx((1 + 2 / 3) / 3)
    assert scores["pixel_acc"] == pytest.approx(5 / 7)


# -- test-time resize -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "sizes", "batch_size", "seen"),
    [
        # mmsegmentation's keep-ratio rule: 40×30 → ×32/30 → 43×32; 100×20 → ×64/100 → 64×13
        ({"mode": "keep_ratio", "size": [64, 32]}, [(40, 30), (100, 20)], 2,
         [(1, 3, 32, 43), (1, 3, 13, 64)]),
        # one size for all: same-size images share a batch, a new size starts another
        ({"mode": "whole", "size": [48, 24]}, [(40, 30), (40, 30), (100, 20)], 2,
         [(2, 3, 24, 48), (1, 3, 24, 48)]),
        # no policy: as zoo.segment, the short side to the input size's (32 here): 40×30 → 43×32
        (None, [(40, 30)], 1, [(1, 3, 32, 43)]),
    ],
    ids=["keep_ratio", "whole", "no-policy"],
)  # fmt: skip
def test_the_model_sees_the_test_time_size(tmp_path, monkeypatch, policy, sizes, batch_size, seen):
    size = {} if policy else {"input_size": (3, 32, 32)}
    name = _constant_model(tmp_path / "model", test_resize=policy, **size)
    colour = (200, 100, 50)
    for index, (width, height) in enumerate(sizes):
        label = np.zeros((height, width))
        label[0] = 255
        cityscapes_frame(tmp_path / "data", "val", "ulm", index, label, colour=colour)
    inputs = []
    original = zoo.create_model

    def create_with_hook(*args, **kwargs):
        model = original(*args, **kwargs)
        model.register_forward_pre_hook(lambda module, args: inputs.append(args[0].clone()))
        return model

    monkeypatch.setattr(zoo, "create_model", create_with_hook)
    result = validate(name, f"cityscapes:{tmp_path / 'data'}", batch_size=batch_size, device="cpu")
    assert [tuple(x.shape) for x in inputs] == seen
    info = zoo.model_info(name)
    expected = (torch.tensor(colour) / 255 - torch.tensor(info.mean)) / torch.tensor(info.std)
    for x in inputs:  # normalised with the model's mean/std (a plain colour stays plain)
        assert torch.allclose(x.mean((0, 2, 3)), expected, atol=1e-5)
    # compared at the original size: every labelled pixel (all but the first row) counted
    labelled = sum(w * (h - 1) for w, h in sizes)
    assert np.asarray(result["confusion_matrix"]).sum() == labelled
    assert result["aAcc"] == 100.0 and result["mIoU"] == 100.0
    assert result["test_resize"] == (policy or {"mode": "keep_ratio", "size": [0, 32]})
    resized = zoo.model_info(name).resize_policy().output_size(*sizes[-1])
    assert resized == (seen[-1][3], seen[-1][2])  # (w, h)
    # the same size zoo.segment runs the model at
    image = Image.new("RGB", sizes[-1], colour)
    segmented = zoo.segment(original(name, pretrained=True), image)
    assert segmented.input_size == tuple(seen[-1][2:])


# -- classification ---------------------------------------------------------------------------
def test_classification_top1_matches_the_trainer(tmp_path, digit_images):
    images, labels = digit_images
    for digit in range(10):  # one training and two validation images of each digit
        for n, i in enumerate(np.flatnonzero(labels == digit)[:3]):
            split = "train" if n == 0 else "val"
            save_gray(images[i], tmp_path / "data" / split / f"digit{digit}" / f"{i}.png")
    data = f"imagefolder:{tmp_path / 'data'}"
    torch.manual_seed(0)
    model = zoo.create_model("resnet20_cifar", num_classes=10)
    zoo.save_pretrained(model, tmp_path / "model", labels=[f"digit{d}" for d in range(10)],
                        input_size=(3, 32, 32))  # fmt: skip
    name = f"local-dir:{tmp_path / 'model'}"
    result = validate(name, data, batch_size=8, device="cpu")
    config = train.TrainConfig(model=name, data=data, batch_size=8)
    loaded, task = train.create_model(config)
    _, loader = train.build_loaders(config, train.build_data(data, task), loaded)
    reference = train.evaluate(loaded, loader, task, 10)
    assert result["images"] == 20
    assert result["top1"] == pytest.approx(100 * reference["top1"])
    assert result["top5"] == pytest.approx(100 * reference["top5"])
    assert result["val_loss"] == pytest.approx(reference["val_loss"], rel=1e-5)
    assert validate(name, data, device="cpu", limit=5)["images"] == 5


# -- training on the new layouts --------------------------------------------------------------
def test_trains_on_cityscapes_and_validates_the_best_model(tmp_path):
    for index in range(4):
        label = np.zeros((24, 48))
        label[:, 24:] = 13  # car on the right
        for split in ("train", "val"):
            cityscapes_frame(tmp_path / "data", split, "bonn", index, label)
    data = f"cityscapes:{tmp_path / 'data'}"
    run = train.fit(train.TrainConfig(
        model="fcn", data=data, model_kwargs={"backbone": "test_resnet", "output_stride": 32},
        epochs=1, batch_size=2, image_size=32, output=str(tmp_path / "run"), progress=False,
    ))  # fmt: skip
    config = json.loads((run.best_dir / "config.json").read_text())
    assert config["dataset"] == "cityscapes" and config["label_names"] == CITYSCAPES
    result = validate(f"local-dir:{run.best_dir}", data, device="cpu")
    assert result["images"] == 4 and 0.0 <= result["mIoU"] <= 100.0


# -- bad input: exit 2, one line --------------------------------------------------------------
def _bad_cases(tmp: Path, road_model: str) -> list[tuple[list[str], str]]:
    empty = tmp / "empty"
    empty.mkdir()
    no_images = tmp / "no-images"
    for part in ("leftImg8bit/val/ulm", "gtFine/val/ulm"):
        (no_images / part).mkdir(parents=True)
    ade = tmp / "ade"
    ade20k_image(ade, "validation", "ADE_val_00000001", np.ones((8, 8)))
    corrupt = tmp / "corrupt"
    broken = cityscapes_frame(corrupt, "val", "ulm", 1, np.zeros((8, 8)))
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    tag = "pspnet_resnet50c.mmseg_cityscapes_512x1024"
    return [
        ([road_model, f"cityscapes:{empty}"], r"no directory .*empty/leftImg8bit/val"),
        ([road_model, f"cityscapes:{no_images}"], r"no <city>/\*_leftImg8bit\.png images in"),
        ([road_model, f"ade20k:{ade}"], r"has 150 classes \(ade20k\) but the model predicts 19"),
        ([road_model, f"cityscapes:{corrupt}"], r"ulm_000000_000001_leftImg8bit\.png"),
        ([road_model, "cityscapes:/nonexistent"], r"no such directory /nonexistent"),
        ([road_model, "coco:/x"], r"Unknown data format 'coco'"),
        (["pspnet_resnet50c.mmseg_cityscape", "digits"], r"pspnet_resnet50c"),
        ([road_model, "digits", "--checkpoint", str(tmp / "w.pth")], r"--checkpoint loads"),
        ([tag, "digits", "--checkpoint", str(tmp / "w.pth")], r"w\.pth: no such file"),
        ([road_model, "digits", "--limit", "0"], r"--limit must be a positive integer"),
        ([road_model, "digits", "--seed", "-1"], r"--seed must be an integer ≥ 0"),
    ]


def test_bad_inputs_exit_2_with_one_line(road_model, tmp_path, capsys):
    for (model, data, *more), pattern in _bad_cases(tmp_path, road_model):
        code, out, err = _run(capsys, "--model", model, "--data", data, *more)
        assert code == 2, (model, data, more, out, err)
        assert len(err.strip().splitlines()) == 1 and not out, err
        assert err.startswith(("error: ", "data error: ")), err
        assert __import__("re").search(pattern, err), (pattern, err)


def test_an_unreadable_image_in_a_worker_process_is_one_line(road_model, tmp_path, capsys):
    for index in range(3):
        image = cityscapes_frame(tmp_path, "val", "ulm", index, np.zeros((8, 8)))
    image.write_bytes(b"not an image")
    code = main(["--model", road_model, "--data", f"cityscapes:{tmp_path}", "--device", "cpu",
                 "--workers", "2"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and not out, err
    assert "ulm_000000_000002_leftImg8bit.png" in err and "Traceback" not in err


@pytest.mark.slow
def test_an_error_on_one_process_stops_every_process(road_model, tmp_path):
    """Rank 1's shard (frames 1 and 3) holds the unreadable frame. Rank 0 learns of it before
    the metric sum and stops with its own line (torchrun's agent would otherwise kill it; a
    launcher without one, such as srun, would leave it waiting half an hour in gloo)."""
    for index in range(4):
        image = cityscapes_frame(tmp_path, "val", "ulm", index, np.zeros((8, 8)))
    image.write_bytes(b"not an image")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", "2", "-m", "train.validate", "--model", road_model,
               "--data", f"cityscapes:{tmp_path}", "--device", "cpu", "--workers", "0"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode != 0 and "difference" not in done.stdout
    assert "ulm_000000_000003_leftImg8bit.png" in done.stderr  # rank 1's own error
    assert "another process stopped on an error" in done.stderr  # rank 0, told in time


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_a_gpu_is_a_clear_error(road_model, cityscapes_ids, capsys):
    code = main(["--model", road_model, "--data", cityscapes_ids, "--device", "cuda"])
    assert code == 2 and "CUDA is not available" in capsys.readouterr().err


# -- the command line -------------------------------------------------------------------------
def test_command_line(road_model, cityscapes_ids, tmp_path):
    """As a module: the report on stdout, nothing on stderr (no warning, no progress bar off a
    terminal), the JSON written."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out_file = tmp_path / "out" / "metrics.json"
    command = [sys.executable, "-m", "train.validate", "--model", road_model, "--data",
               cityscapes_ids, "--device", "cpu", "--workers", "1", "--out",
               str(out_file)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "aAcc 58.33  mIoU 19.44  mAcc 33.33" in done.stdout
    assert math.isclose(json.loads(out_file.read_text())["aAcc"], 100 * 112 / 192)
