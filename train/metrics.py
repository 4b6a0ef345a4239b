"""Validation metrics with torchmetrics: top-1/top-5 accuracy; mIoU, per-class IoU, pixel
accuracy and the confusion matrix for segmentation (ignore index 255).

Predictions are gathered across processes before ``update`` (``accelerator.gather_for_metrics``
drops the padding duplicates of uneven shards), so the metrics never sync themselves.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from .data import IGNORE_INDEX


class ClassificationMetrics:
    """Top-1 and top-5 accuracy (fractions in [0, 1])."""

    def __init__(self, num_classes: int) -> None:
        self.top1 = MulticlassAccuracy(num_classes, top_k=1, average="micro", sync_on_compute=False)
        self.top5 = MulticlassAccuracy(
            num_classes, top_k=min(5, num_classes), average="micro", sync_on_compute=False
        )

    def update(self, logits: Tensor, target: Tensor) -> None:
        """``logits (B, K)``, ``target (B,)``."""
        self.top1.update(logits.float().cpu(), target.cpu())
        self.top5.update(logits.float().cpu(), target.cpu())

    def compute(self) -> dict[str, float]:
        return {"top1": float(self.top1.compute()), "top5": float(self.top5.compute())}


class SegmentationMetrics:
    """Confusion matrix over labelled pixels; mIoU, per-class IoU and pixel accuracy from it.

    A class absent from both prediction and ground truth has no IoU (NaN) and is left out of
    the mean, as mmsegmentation reports it.
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.confmat = MulticlassConfusionMatrix(
            num_classes, ignore_index=IGNORE_INDEX, sync_on_compute=False
        )

    def update(self, prediction: Tensor, target: Tensor) -> None:
        """``prediction (B, H, W)`` class indices, ``target (B, H, W)`` with 255 = ignore."""
        self.confmat.update(prediction.cpu(), target.cpu())

    def confusion_matrix(self) -> Tensor:
        """``(K, K)`` pixel counts, rows = ground truth, columns = prediction."""
        return self.confmat.compute()

    def compute(self) -> dict[str, float | list[float]]:
        matrix = self.confusion_matrix().double()
        true_positive = matrix.diag()
        union = matrix.sum(0) + matrix.sum(1) - true_positive
        iou = torch.where(union > 0, true_positive / union.clamp(min=1), torch.nan)
        return {
            "mIoU": float(iou.nanmean()),
            "pixel_acc": float(true_positive.sum() / matrix.sum().clamp(min=1)),
            "per_class_iou": iou.tolist(),
            "confusion_matrix": matrix.long().tolist(),
        }
