"""The training loop: data → model → accelerate (devices, AMP, accumulation, DDP) → timm
optimizer and schedule → validation, checkpoints, best-model export, Hub push."""

from __future__ import annotations

import csv
import io
import math
import os
import random
import shutil
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from timm.models import parse_model_name
from torch import Tensor, nn
from torch.utils.data import DataLoader

import zoo

from .config import TrainConfig
from .data import IGNORE_INDEX, DataSplits
from .metrics import ClassificationMetrics, SegmentationMetrics
from .transforms import Transformed, classification_transforms, segmentation_transforms


class TrainStep(nn.Module):
    """The model plus its loss, so DDP wraps one forward: ``(images, targets) → (logits, loss)``.

    Segmentation models with an auxiliary head add ``aux_weight × CE(aux)`` in training.
    """

    def __init__(self, model: nn.Module, task: str, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.model, self.task, self.label_smoothing = model, task, label_smoothing

    def forward(self, images: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        if self.task == "segmentation":
            with_aux = self.training and getattr(self.model, "aux_head", None) is not None
            logits, aux = self.model.forward_with_aux(images, aux=with_aux)  # (B, K, H, W) each
            loss = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE_INDEX)
            if aux is not None:
                aux_loss = F.cross_entropy(aux.float(), targets, ignore_index=IGNORE_INDEX)
                loss = loss + self.model.aux_weight * aux_loss
            return logits, loss
        logits = self.model(images)  # (B, K)
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=self.label_smoothing)
        return logits, loss


@dataclass
class FitResult:
    """What a run produced."""

    output: Path
    best_dir: Path
    best_metric: str
    best_value: float
    best_epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    pushed_url: str | None = None
    push_error: str | None = None


def primary_metric(task: str) -> str:
    """The validation metric that picks the best epoch."""
    return "mIoU" if task == "segmentation" else "top1"


def seed_epoch(seed: int, epoch: int) -> None:
    """Seed every RNG from (seed, epoch): an epoch's augmentation and dropout do not depend on
    how the run got there, which makes a resumed run continue exactly."""
    value = seed * 100_003 + epoch
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)


# -- building blocks --------------------------------------------------------------------------
def create_model(config: TrainConfig, num_classes: int | None = None) -> tuple[nn.Module, str]:
    """The model to train and its task; a new classifier when ``num_classes`` differs."""
    source, _ = parse_model_name(config.model)
    kwargs: dict[str, Any] = dict(config.model_kwargs)
    if source is None and zoo.model_task(config.model) == "segmentation":
        kwargs["pretrained_backbone"] = config.pretrained_backbone and not config.pretrained
    pretrained = config.pretrained or source is not None
    model = zoo.create_model(config.model, pretrained=pretrained, **kwargs)
    task = zoo.model_task(model.pretrained_cfg.get("architecture", ""))
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    return model, task


def image_size(config: TrainConfig, model: nn.Module) -> int:
    return int(config.image_size or model.pretrained_cfg.get("input_size", (3, 224, 224))[-1])


def build_loaders(
    config: TrainConfig,
    data: DataSplits,
    model: nn.Module,
) -> tuple[DataLoader, DataLoader]:
    """Training (shuffled, augmented) and validation (cfg transforms) loaders."""
    cfg, size = dict(model.pretrained_cfg), image_size(config, model)
    make = segmentation_transforms if data.task == "segmentation" else classification_transforms
    augment = dict(hflip=config.hflip, scale=config.scale, color_jitter=config.color_jitter)
    train_set = Transformed(data.train, make(cfg, size, True, **augment))
    val_set = Transformed(data.val, make(cfg, size, False))
    common = dict(
        num_workers=config.workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=config.workers > 0,
    )
    train = DataLoader(
        train_set,
        config.batch_size,
        shuffle=True,
        drop_last=len(train_set) > config.batch_size,
        **common,
    )
    val = DataLoader(val_set, config.eval_batch_size or config.batch_size, shuffle=False, **common)
    return train, val


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    task: str,
    num_classes: int,
    accelerator: Any = None,
    channels_last: bool = False,
) -> dict[str, Any]:
    """Validation loss and metrics of ``model`` over ``loader`` (gathered across processes).

    Returns:
        ``{"val_loss", "top1", "top5"}`` or ``{"val_loss", "mIoU", "pixel_acc",
        "per_class_iou", "confusion_matrix"}``; accuracies and IoUs are fractions in [0, 1];
        the confusion matrix counts pixels, rows = ground truth, columns = prediction.
    """
    model.eval()
    device = next(model.parameters()).device
    metrics = (
        SegmentationMetrics(num_classes)
        if task == "segmentation"
        else ClassificationMetrics(num_classes)
    )
    loss_sum, count = torch.zeros((), device=device, dtype=torch.float64), 0
    for images, targets in loader:
        images, targets = images.to(device), targets.to(device)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        context = accelerator.autocast() if accelerator is not None else nullcontext()
        with context:
            logits = model(images)
        ignore = IGNORE_INDEX if task == "segmentation" else -100
        loss = F.cross_entropy(logits.float(), targets, ignore_index=ignore, reduction="sum")
        outputs = logits.argmax(1) if task == "segmentation" else logits.float()
        if accelerator is not None:
            outputs, targets = accelerator.gather_for_metrics((outputs, targets))
            loss = accelerator.reduce(loss, "sum")
        metrics.update(outputs, targets)
        loss_sum += loss.double()
        count += int((targets != ignore).sum()) if task == "segmentation" else len(targets)
    return {"val_loss": float(loss_sum) / max(count, 1), **metrics.compute()}


def create_optimizer_and_scheduler(
    config: TrainConfig,
    model: nn.Module,
    updates_per_epoch: int,
) -> tuple[torch.optim.Optimizer, Any]:
    """timm's optimizer and per-update learning-rate schedule (poly uses power 0.9)."""
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2

    optimizer = create_optimizer_v2(
        model,
        opt=config.opt,
        lr=config.lr,
        weight_decay=config.weight_decay,
        momentum=config.momentum,
    )
    if config.sched == "none":
        return optimizer, None
    scheduler, _ = create_scheduler_v2(
        optimizer,
        sched=config.sched,
        num_epochs=config.epochs,
        warmup_epochs=config.warmup_epochs,
        warmup_lr=config.lr * 0.01,
        min_lr=config.min_lr,
        decay_rate=0.9 if config.sched == "poly" else 0.1,
        decay_epochs=max(1, config.epochs // 3),
        step_on_epochs=False,
        updates_per_epoch=updates_per_epoch,
    )
    return optimizer, scheduler


# -- outputs ----------------------------------------------------------------------------------
def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def write_csv(history: list[dict[str, Any]], path: Path) -> None:
    """``metrics.csv``: one row per epoch, rewritten atomically from the run's history."""
    if not history:
        return
    columns = list(dict.fromkeys(k for row in history for k in row if not isinstance(row[k], list)))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, path)


def write_confusion_matrix(matrix: list[list[int]], classes: list[str], path: Path) -> None:
    """The latest validation confusion matrix as CSV (rows: ground truth, columns: prediction)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["true \\ predicted", *classes])
    writer.writerows([name, *row] for name, row in zip(classes, matrix, strict=True))
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, path)


def export_best(
    model: nn.Module,
    directory: Path,
    data: DataSplits,
    metrics: dict[str, Any],
    size: int,
    epoch: int,
) -> None:
    """Save the model with ``zoo.save_pretrained``; swap the directory in only when complete."""
    model.pretrained_cfg = {**model.pretrained_cfg, "input_size": (3, size, size)}
    staging = directory.with_name(f".{directory.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    extra = {"metrics": {**_scalars(metrics), "epoch": epoch}, "dataset": data.name}
    zoo.save_pretrained(model, staging, labels=data.classes, extra_config=extra)
    old = directory.with_name(f".{directory.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(staging, directory)
    shutil.rmtree(old, ignore_errors=True)


def format_row(epoch: int, row: dict[str, Any], task: str) -> str:
    """One line of the per-epoch validation table."""
    keys = ("mIoU", "pixel_acc") if task == "segmentation" else ("top1", "top5")
    scores = "  ".join(f"{k} {row[k]:.4f}" for k in keys)
    return (
        f"epoch {epoch:3d} | train loss {row['train_loss']:.4f} | val loss "
        f"{row['val_loss']:.4f} | {scores} | lr {row['lr']:.2e} | {row['seconds']:.1f}s"
    )


def class_table(classes: list[str], per_class_iou: list[float]) -> str:
    """Per-class IoU as an aligned two-column table."""
    width = max(len(c) for c in classes)
    return "\n".join(
        f"  {name:<{width}}  {'  n/a' if math.isnan(iou) else f'{iou:.3f}'}"
        for name, iou in zip(classes, per_class_iou, strict=True)
    )
