"""Validation metrics with torchmetrics: top-1/top-5 accuracy; for segmentation (ignore index
255) the confusion matrix and, from it, mmsegmentation's IoU, Acc, aAcc, mIoU and mAcc.

The trainer gathers predictions across processes before ``update``
(``accelerator.gather_for_metrics`` drops the padding duplicates of uneven shards), so its
metrics never sync themselves; ``python -m train.validate`` gives each process its own shard and
lets torchmetrics sum the states (``sync=True``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from .data import IGNORE_INDEX


class ClassificationMetrics:
    """Top-1 and top-5 accuracy (fractions in [0, 1]) and, with ``per_class``, each class's
    accuracy (recall) and the confusion matrix.

    Args:
        num_classes: K.
        per_class: Also keep the ``(K, K)`` confusion matrix.
        sync: Sum the states of all processes in ``compute`` (torch.distributed must be set
            up; each process updates with its own shard). The trainer gathers predictions
            itself and leaves this off.
        device: Where the states accumulate (with NCCL, the process's GPU).
    """

    def __init__(
        self,
        num_classes: int,
        per_class: bool = False,
        sync: bool = False,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.top1 = MulticlassAccuracy(num_classes, top_k=1, average="micro", sync_on_compute=sync)
        self.top5 = MulticlassAccuracy(
            num_classes, top_k=min(5, num_classes), average="micro", sync_on_compute=sync
        )
        self.confmat = (
            MulticlassConfusionMatrix(num_classes, sync_on_compute=sync) if per_class else None
        )
        for metric in (self.top1, self.top5, self.confmat):
            if metric is not None:
                metric.to(self.device)

    def update(self, logits: Tensor, target: Tensor) -> None:
        """``logits (B, K)``, ``target (B,)``."""
        logits, target = logits.float().to(self.device), target.to(self.device)
        self.top1.update(logits, target)
        self.top5.update(logits, target)
        if self.confmat is not None:
            self.confmat.update(logits.argmax(1), target)

    def compute(self) -> dict[str, Any]:
        """``top1``, ``top5`` and, with ``per_class``, ``per_class_acc`` (NaN for a class with
        no sample) and ``confusion_matrix`` (counts, rows = ground truth)."""
        scores: dict[str, Any] = {"top1": float(self.top1.compute()),
                                  "top5": float(self.top5.compute())}  # fmt: skip
        if self.confmat is not None:
            matrix = self.confmat.compute().double().cpu()  # (K, K)
            labelled = matrix.sum(1)
            acc = torch.where(labelled > 0, matrix.diag() / labelled.clamp(min=1), torch.nan)
            scores["per_class_acc"] = acc.tolist()
            scores["confusion_matrix"] = matrix.long().tolist()
        return scores


class SegmentationMetrics:
    """Confusion matrix over labelled pixels, and mmsegmentation's metrics from it.

    Per class: IoU = TP / (TP + FP + FN) and Acc = TP / (TP + FN). A class with no pixel in
    the labels or the predictions has no IoU (NaN), one with none in the labels no Acc; the
    means (mIoU, mAcc) leave them out, as mmsegmentation reports them. Pixel accuracy (aAcc)
    is correct / labelled pixels.

    Args:
        num_classes: K.
        device: Where the confusion matrix accumulates (predictions stay there; default CPU).
        sync: Sum the confusion matrices of all processes in ``compute`` (see
            :class:`ClassificationMetrics`).
    """

    def __init__(
        self, num_classes: int, device: torch.device | str = "cpu", sync: bool = False
    ) -> None:
        self.num_classes, self.device = num_classes, torch.device(device)
        self.confmat = MulticlassConfusionMatrix(
            num_classes, ignore_index=IGNORE_INDEX, sync_on_compute=sync
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
