"""``train.validate`` on a published tag, in the Cityscapes, ADE20K and VOC layouts: each
data set's label remapping, the tag's test-time resize, and the metrics and the
published-vs-ours line checked by hand.

Every image is four 8×8 blocks of one grey level each; the model is an oracle that labels a
pixel by its grey level (the nearest of the levels below), standing in for the tag's weights
(which need a download) but seeing exactly what they would: the image resized by the tag's
policy and normalised with its mean/std. Blocks are 64 pixels; the expected numbers are in
the comments.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

import train.validate
import zoo
from tests.train.layouts import cityscapes_frame, image_list, voc_palette_png
from train.validate import main, report, validate

LEVELS = (30, 110, 190, 250)  # grey levels the oracle tells apart


class GreyOracle(nn.Module):
    """``(B, 3, h, w)`` normalised → ``(B, K, h, w)``: class ``classes[i]`` where the grey level
    is nearest ``LEVELS[i]``, after undoing the tag's normalisation."""

    def __init__(self, tag: str, classes: tuple[int, ...]) -> None:
        super().__init__()
        info = zoo.model_info(tag)
        self.num_classes, self.classes = info.num_classes, classes
        self.register_buffer("mean", torch.tensor(info.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(info.std).view(1, 3, 1, 1))
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: Tensor) -> Tensor:
        self.shapes.append(tuple(x.shape))
        grey = ((x * self.std + self.mean) * 255).mean(1)  # (B, h, w), 0–255
        logits = torch.full((x.shape[0], self.num_classes, *x.shape[2:]), -1e9)
        for level, cls in zip(LEVELS, self.classes, strict=True):
            logits[:, cls] = torch.maximum(logits[:, cls], -((grey - level) ** 2))
        return logits


def _blocks(tl: int, tr: int, bl: int, br: int) -> np.ndarray:
    """``(16, 16)`` of four 8×8 blocks."""
    return np.block([[np.full((8, 8), tl), np.full((8, 8), tr)],
                     [np.full((8, 8), bl), np.full((8, 8), br)]]).astype(np.uint8)  # fmt: skip


def _grey(levels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.repeat(levels[..., None], 3, axis=-1))


def _run(monkeypatch, tag: str, data: str, oracle: GreyOracle) -> dict:
    monkeypatch.setattr(train.validate, "load_model", lambda name, checkpoint=None: oracle)
    return validate(tag, data, device="cpu")


def _iou(result: dict) -> dict[str, float | None]:
    return {row["class"]: row["IoU"] for row in result["per_class"] if row["IoU"] is not None}


def test_cityscapes_label_ids_on_a_published_tag(tmp_path, monkeypatch, capsys):
    tag = "pspnet_resnet50c.mmseg_cityscapes_512x1024"
    road, person, car = 0, 11, 13  # train ids
    # label ids: road 7 → 0, car 26 → 13, person 24 → 11, ego vehicle 1 → ignored
    labels = _blocks(7, 26, 24, 1)
    image = cityscapes_frame(tmp_path, "val", "aachen", 0, labels, kind="labelIds")
    _grey(_blocks(30, 30, 110, 190)).save(image)  # predicted: road, road, person, car
    oracle = GreyOracle(tag, (road, person, car, road))
    result = _run(monkeypatch, tag, f"cityscapes:{tmp_path}", oracle)
    # road: TP 64, FP 64 (the car block) → IoU 50, Acc 100; car: FN 64 → 0, 0; person: 100, 100;
    # the ignored block predicted car counts nowhere. 192 labelled pixels, 128 right.
    assert _iou(result) == {"road": 50.0, "person": 100.0, "car": 0.0}
    assert result["mIoU"] == pytest.approx(50.0)
    assert result["mAcc"] == pytest.approx(200 / 3)
    assert result["aAcc"] == pytest.approx(200 / 3)
    assert np.asarray(result["confusion_matrix"]).sum() == 192
    # the tag's policy: 16×16 → keep ratio in 2048×1024 → 1024×1024
    assert oracle.shapes == [(1, 3, 1024, 1024)]
    assert result["published_mIoU"] == 78.55
    assert result["mIoU_difference"] == pytest.approx(50.0 - 78.55)
    assert "reference mIoU 78.55 (published, zoo.model_info), ours 50.00, difference -28.55" in (
        report(result)
    )


def test_ade20k_reduce_zero_label_on_a_published_tag(tmp_path, monkeypatch):
    tag = "hrnetv2_w18.mmseg_ade20k_512"
    wall, floor = 0, 3  # classes after reduce-zero-label (annotation 1 → 0, 4 → 3)
    base = tmp_path / "ADEChallengeData2016"
    for folder in ("images", "annotations"):
        (base / folder / "validation").mkdir(parents=True)
    Image.fromarray(_blocks(0, 1, 4, 1)).save(base / "annotations/validation/ADE_val_1.png")
    _grey(_blocks(190, 30, 30, 30)).save(base / "images/validation/ADE_val_1.png")
    # predicted: floor (on "other", ignored), wall, wall (on floor), wall
    oracle = GreyOracle(tag, (wall, 1, floor, 2))
    result = _run(monkeypatch, tag, f"ade20k:{tmp_path}", oracle)
    # wall: TP 128, FP 64 → IoU 66.67, Acc 100; floor: FN 64 → 0, 0. 192 labelled, 128 right.
    iou = _iou(result)
    assert set(iou) == {"wall", "floor"}
    assert iou["wall"] == pytest.approx(200 / 3) and iou["floor"] == 0.0
    assert result["mIoU"] == pytest.approx(100 / 3)
    assert result["mAcc"] == pytest.approx(50.0)
    assert result["aAcc"] == pytest.approx(200 / 3)
    assert oracle.shapes == [(1, 3, 512, 512)]  # keep ratio in 2048×512
    assert result["published_mIoU"] == 36.79
    assert result["mIoU_difference"] == pytest.approx(100 / 3 - 36.79)


def test_voc_void_border_on_a_published_tag(tmp_path, monkeypatch, capsys):
    tag = "deeplabv3_resnet50c.mmseg_voc12aug_512"
    background, cat, person = 0, 8, 15
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    voc_palette_png(_blocks(background, person, 255, cat), voc / "SegmentationClass" / "a.png")
    (voc / "JPEGImages").mkdir(parents=True)
    # uniform grey 8×8 blocks: JPEG keeps them exactly (one DC coefficient per block)
    _grey(_blocks(30, 110, 110, 110)).save(voc / "JPEGImages" / "a.jpg", quality=100)
    image_list(voc, "val", ["a"])
    oracle = GreyOracle(tag, (background, person, cat, cat))
    out = tmp_path / "m.json"
    monkeypatch.setattr(train.validate, "load_model", lambda name, checkpoint=None: oracle)
    code = main(["--model", tag, "--data", f"voc:{tmp_path}", "--device", "cpu", "--workers",
                 "0", "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    result = json.loads(out.read_text())
    # background 100/100; person: TP 64, FP 64 (the cat block) → 50/100; cat: 0/0; the void
    # block predicted person counts nowhere
    assert _iou(result) == {"background": 100.0, "cat": 0.0, "person": 50.0}
    assert result["mIoU"] == pytest.approx(50.0) and result["aAcc"] == pytest.approx(200 / 3)
    assert oracle.shapes == [(1, 3, 512, 512)]
    assert "reference mIoU 77.68 (published, zoo.model_info), ours 50.00, difference -27.68" in (
        printed
    )
    assert re.search(r"\| person +\|  50\.00 \| 100\.00 \|", printed)  # mmsegmentation's table


def test_no_published_line_off_the_published_split_or_data(tmp_path, monkeypatch):
    tag = "pspnet_resnet50c.mmseg_cityscapes_512x1024"
    for split in ("train", "val"):
        image = cityscapes_frame(tmp_path, split, "aachen", 0, _blocks(7, 7, 7, 7), "labelIds")
        _grey(_blocks(30, 30, 30, 30)).save(image)
    oracle = GreyOracle(tag, (0, 1, 2, 3))
    monkeypatch.setattr(train.validate, "load_model", lambda name, checkpoint=None: oracle)
    on_train = validate(tag, f"cityscapes:{tmp_path}", split="train", device="cpu")
    assert on_train["mIoU"] == 100.0 and "published_mIoU" not in on_train
    limited = validate(tag, f"cityscapes:{tmp_path}", device="cpu", limit=1)
    assert "published_mIoU" not in limited  # a subset is not the published measurement
