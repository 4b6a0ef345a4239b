"""Building a run's parts from its config: the model, the data loaders, the optimizer and the
learning-rate schedule (timm's factories), and the seeding that makes runs reproducible."""

from __future__ import annotations

import random
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

import zoo

from .config import TrainConfig
from .data import DataSplits
from .transforms import Transformed, classification_transforms, segmentation_transforms


def seed_epoch(seed: int, epoch: int) -> None:
    """Seed every RNG from (seed, epoch): an epoch's augmentation and dropout do not depend on
    how the run got there, which makes a resumed run continue exactly."""
    value = seed * 100_003 + epoch
    random.seed(value)
    np.random.seed(value % 2**32)
    torch.manual_seed(value)


def create_model(config: TrainConfig) -> tuple[nn.Module, str]:
    """The model to train and its task (from its record).

    Raises:
        zoo.ZooError: Unknown or unloadable model, unavailable (backbone) weights.
    """
    info = zoo.model_info(config.model)
    saved = config.model.startswith(("local-dir:", "hf-hub:"))
    kwargs: dict[str, Any] = dict(config.model_kwargs)
    if not saved and info.task == "segmentation":
        kwargs["pretrained_backbone"] = config.pretrained_backbone and not config.pretrained
    model = zoo.create_model(config.model, pretrained=config.pretrained or saved, **kwargs)
    return model, info.task


def image_size(config: TrainConfig, model: nn.Module) -> int:
    """Training crop / validation size: ``--image-size`` or the model's nominal input size."""
    cfg: dict[str, Any] = cast(dict, model.pretrained_cfg)
    return int(config.image_size or cfg.get("input_size", (3, 224, 224))[-1])


def build_loaders(
    config: TrainConfig, data: DataSplits, model: nn.Module
) -> tuple[DataLoader, DataLoader]:
    """Training (shuffled, augmented) and validation (cfg transforms) loaders.

    Augmentation defaults come from the data set's format (``data.augment``) unless the config
    sets them.
    """
    cfg, size = dict(cast(dict, model.pretrained_cfg)), image_size(config, model)
    make = segmentation_transforms if data.task == "segmentation" else classification_transforms
    hflip = data.augment.hflip if config.hflip is None else config.hflip
    scale = data.augment.scale if config.scale is None else config.scale
    train_tf = make(cfg, size, True, hflip=hflip, scale=scale, color_jitter=config.color_jitter)
    train_set = Transformed(data.train, train_tf)
    val_set = Transformed(data.val, make(cfg, size, False))
    common: dict[str, Any] = dict(
        num_workers=config.workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=config.workers > 0,
    )
    train = DataLoader(train_set, config.batch_size, shuffle=True,
                       drop_last=len(train_set) > config.batch_size, **common)  # fmt: skip
    val = DataLoader(val_set, config.eval_batch_size or config.batch_size, shuffle=False, **common)
    return train, val


def create_optimizer_and_scheduler(
    config: TrainConfig, model: nn.Module, updates_per_epoch: int
) -> tuple[torch.optim.Optimizer, Any]:
    """timm's optimizer and per-update learning-rate schedule (poly uses power 0.9)."""
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2

    optimizer = create_optimizer_v2(
        model, opt=config.opt, lr=config.lr, weight_decay=config.weight_decay,
        momentum=config.momentum,
    )  # fmt: skip
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
