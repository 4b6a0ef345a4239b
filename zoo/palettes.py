"""Class names and colour palettes of the segmentation data sets the zoo's tags refer to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

Palette = list[tuple[int, int, int]]

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip

CITYSCAPES_PALETTE: Palette = [
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
]  # fmt: skip


def voc_palette(num_classes: int = 256) -> Palette:
    """The PASCAL VOC colour map (bit-interleaved), which also serves any number of classes.

    Class 0 is black, 1 dark red, 2 dark green, ...; colours never repeat below 256 classes.
    """
    palette = []
    for index in range(num_classes):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.append((r, g, b))
    return palette


_PALETTES: dict[str, Palette] = {}


def register_palette(name: str, palette: Palette) -> None:
    """Attach a palette to a pretrained tag ``architecture.tag`` (or a bare architecture)."""
    _PALETTES[name] = [(int(c[0]), int(c[1]), int(c[2])) for c in palette]


def get_palette(model_or_cfg: nn.Module | Mapping[str, Any]) -> Palette:
    """RGB colours (0–255), one per class, for drawing a segmentation model's masks.

    Resolution order: a ``palette`` attribute on the model (set when it was loaded from a
    saved directory or the Hub); the palette registered for its ``architecture.tag`` or
    architecture; the VOC colour map for its number of classes.
    """
    palette = getattr(model_or_cfg, "palette", None)
    if palette:
        return [(int(c[0]), int(c[1]), int(c[2])) for c in palette]
    cfg: Mapping[str, Any]
    if isinstance(model_or_cfg, nn.Module):
        cfg = getattr(model_or_cfg, "pretrained_cfg", None) or {}
    else:
        cfg = model_or_cfg
    architecture, tag = cfg.get("architecture", ""), cfg.get("tag", "")
    num_classes = int(getattr(model_or_cfg, "num_classes", 0) or cfg.get("num_classes") or 0)
    for key in (f"{architecture}.{tag}", architecture):
        if key in _PALETTES and len(_PALETTES[key]) == num_classes:
            return list(_PALETTES[key])
    return voc_palette(num_classes)
