"""Joint image/mask augmentation (torchvision.transforms.v2) and evaluation transforms from the
model's pretrained cfg."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

from .data import IGNORE_INDEX


def _normalize(cfg: dict[str, Any]) -> list[Any]:
    return [
        v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True),
        v2.Normalize(mean=list(cfg["mean"]), std=list(cfg["std"])),
    ]


def _jitter(strength: float) -> list[Any]:
    if not strength:
        return []
    return [v2.ColorJitter(brightness=strength, contrast=strength, saturation=strength)]


def classification_transforms(
    cfg: dict[str, Any],
    size: int,
    train: bool,
    hflip: float = 0.5,
    scale: tuple[float, float] | None = None,
    color_jitter: float = 0.0,
    pad_crop: int = 0,
) -> v2.Compose:
    """Train: random-resized crop (area ``scale``), flip, jitter; eval: resize to
    ``size / crop_pct`` and centre crop, as timm evaluates. Both normalise with the cfg's
    mean/std. Output ``(3, size, size)``.

    With ``pad_crop > 0`` training instead resizes to ``size`` if needed, pads ``pad_crop``
    black pixels on each side and takes a random ``size × size`` crop (``scale`` unused), then
    flips and jitters: He et al.'s CIFAR augmentation (pad 4, crop 32).
    """
    if train and pad_crop:
        steps = [
            v2.ToImage(),
            v2.Resize(size, antialias=True),  # a no-op on images already ``size`` on a side
            v2.RandomCrop(size, padding=pad_crop, fill=0),
            v2.RandomHorizontalFlip(hflip),
            *_jitter(color_jitter),
        ]
    elif train:
        steps = [
            v2.ToImage(),
            v2.RandomResizedCrop(size, scale=scale or (0.08, 1.0), antialias=True),
            v2.RandomHorizontalFlip(hflip),
            *_jitter(color_jitter),
        ]
    else:
        resize = round(size / float(cfg.get("crop_pct") or 1.0))
        steps = [v2.ToImage(), v2.Resize(resize, antialias=True), v2.CenterCrop(size)]
    return v2.Compose(steps + _normalize(cfg))


def segmentation_transforms(
    cfg: dict[str, Any],
    size: int,
    train: bool,
    hflip: float = 0.5,
    scale: tuple[float, float] | None = None,
    color_jitter: float = 0.0,
) -> v2.Compose:
    """Image and mask move together. Train: random scale (``scale`` × ``size``), random crop to
    ``size`` (padding the mask with the ignore index), flip, jitter. Eval: resize both to
    ``size × size`` (the mask with nearest neighbour)."""
    if train:
        low, high = scale or (0.5, 2.0)
        steps = [
            v2.ToImage(),
            v2.RandomResize(int(size * low), int(size * high) + 1, antialias=True),
            v2.RandomCrop(
                size, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}
            ),
            v2.RandomHorizontalFlip(hflip),
            *_jitter(color_jitter),
        ]
    else:
        steps = [v2.ToImage(), v2.Resize((size, size), antialias=True)]
    return v2.Compose(steps + _normalize(cfg))


class Transformed(torch.utils.data.Dataset):
    """Applies a v2 transform to ``(image, target)`` pairs; masks come out as ``(H, W)`` int64."""

    def __init__(self, dataset: torch.utils.data.Dataset, transform: v2.Compose) -> None:
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor | int]:
        image, target = self.dataset[index]
        image, target = self.transform(image, target)
        if isinstance(target, tv_tensors.Mask):
            target = target.as_subclass(Tensor).long()
        return image.as_subclass(Tensor), target
