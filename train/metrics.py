"""Validation metrics with torchmetrics: top-1/top-5 accuracy; for segmentation (ignore index
255) the confusion matrix and, from it, mmsegmentation's IoU, Acc, aAcc, mIoU and mAcc.

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
    """Confusion matrix over labelled pixels, and mmsegmentation's metrics from it.

    Per class: IoU = TP / (TP + FP + FN) and Acc = TP / (TP + FN). A class with no pixel in
    the labels or the predictions has no IoU (NaN), one with none in the labels no Acc; the
    means (mIoU, mAcc) leave them out, as mmsegmentation reports them. Pixel accuracy (aAcc)
    is correct / labelled pixels.

    Args:
        num_classes: K.
        device: Where the confusion matrix accumulates (predictions stay there; default CPU).
    """

    def __init__(self, num_classes: int, device: torch.device | str = "cpu") -> None:
        self.num_classes, self.device = num_classes, torch.device(device)
        self.confmat = MulticlassConfusionMatrix(
            num_classes, ignore_index=IGNORE_INDEX, sync_on_compute=False
        ).to(self.device)

    def update(self, prediction: Tensor, target: Tensor) -> None:
        """``prediction (B, H, W)`` class indices, ``target (B, H, W)`` with 255 = ignore."""
        self.confmat.update(prediction.to(self.device), target.to(self.device).long())

    def confusion_matrix(self) -> Tensor:
        """``(K, K)`` pixel counts on the CPU, rows = ground truth, columns = prediction."""
        return self.confmat.compute().cpu()

    def compute(self) -> dict[str, float | list[float]]:
        """Fractions in [0, 1]: ``mIoU``, ``mAcc``, ``pixel_acc`` (aAcc), ``per_class_iou``,
        ``per_class_acc`` (NaN where undefined) and the ``confusion_matrix`` (counts)."""
        matrix = self.confusion_matrix().double()
        true_positive = matrix.diag()
        labelled = matrix.sum(1)  # TP + FN
        union = matrix.sum(0) + labelled - true_positive
        iou = torch.where(union > 0, true_positive / union.clamp(min=1), torch.nan)
        acc = torch.where(labelled > 0, true_positive / labelled.clamp(min=1), torch.nan)
        return {
            "mIoU": float(iou.nanmean()),
            "mAcc": float(acc.nanmean()),
            "pixel_acc": float(true_positive.sum() / matrix.sum().clamp(min=1)),
            "per_class_iou": iou.tolist(),
            "per_class_acc": acc.tolist(),
            "confusion_matrix": matrix.long().tolist(),
        }
