"""Segmentation and classification metrics against hand-computed values and torchmetrics."""

from __future__ import annotations

import math

import pytest
import torch
from torchmetrics.classification import MulticlassJaccardIndex

from train.metrics import ClassificationMetrics, SegmentationMetrics


def test_iou_pixel_accuracy_and_ignore_index():
    target = torch.tensor([[[0, 0, 1, 1], [2, 2, 255, 255]]])  # (1, 2, 4)
    prediction = torch.tensor([[[0, 1, 1, 1], [2, 0, 2, 0]]])
    metrics = SegmentationMetrics(num_classes=4)
    metrics.update(prediction, target)
    result = metrics.compute()
    # class 0: TP 1, FP 1, FN 1 → 1/3; class 1: TP 2, FP 1 → 2/3; class 2: TP 1, FN 1 → 1/2
    assert result["per_class_iou"][:3] == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    assert math.isnan(result["per_class_iou"][3])  # absent everywhere: not in the mean
    assert result["mIoU"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert result["pixel_acc"] == pytest.approx(4 / 6)  # the two 255 pixels do not count
    # Acc = TP / labelled: class 0 1 of 2, class 1 2 of 2, class 2 1 of 2; class 3 unlabelled
    assert result["per_class_acc"][:3] == pytest.approx([1 / 2, 1.0, 1 / 2])
    assert math.isnan(result["per_class_acc"][3])
    assert result["mAcc"] == pytest.approx(2 / 3)
    assert metrics.confusion_matrix().sum() == 6


def test_matches_torchmetrics_jaccard_on_random_data():
    torch.manual_seed(0)
    target = torch.randint(0, 5, (4, 16, 16))
    target[:, :2] = 255
    prediction = torch.randint(0, 5, (4, 16, 16))
    ours = SegmentationMetrics(5)
    ours.update(prediction, target)
    reference = MulticlassJaccardIndex(5, average="macro", ignore_index=255)
    assert ours.compute()["mIoU"] == pytest.approx(float(reference(prediction, target)), abs=1e-6)


def test_top1_top5():
    logits = torch.tensor([[0.1, 0.9, 0.0, 0.0, 0.0, 0.0], [0.9, 0.1, 0.0, 0.0, 0.0, 0.0]])
    metrics = ClassificationMetrics(6)
    metrics.update(logits, torch.tensor([1, 1]))
    assert metrics.compute() == {"top1": 0.5, "top5": 1.0}
