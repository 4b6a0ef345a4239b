"""Class names and mask colours of a model's outputs, read from its metadata record."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from timm.models import PretrainedCfg
from torch import nn

from .datasets import Palette, voc_palette
from .errors import ConfigError
from .meta import MAX_CLASSES, cfg_dict, meta_of

ModelOrCfg = nn.Module | Mapping[str, Any] | PretrainedCfg


def _num_classes(model_or_cfg: ModelOrCfg, cfg: dict[str, Any]) -> int:
    num_classes: Any = getattr(model_or_cfg, "num_classes", None)
    if isinstance(model_or_cfg, nn.Module) and num_classes:
        return int(num_classes)
    return int(cfg.get("num_classes") or 0)


def get_labels(model_or_cfg: ModelOrCfg) -> list[str]:
    """Human-readable class names, one per output index.

    Resolution order: the cfg's ``label_names`` (mapped through ``label_descriptions`` when
    present, as timm stores ImageNet synsets); then ImageNet names inferred by timm from the
    pretrained cfg (``imagenet-1k``, ``imagenet-22k``, ...); then ``class_0 ... class_{K-1}``.
    Names whose count does not match the model's outputs (a replaced classifier) are ignored.

    Args:
        model_or_cfg: A model with a ``pretrained_cfg``, or the cfg itself (a dict or a timm
            ``PretrainedCfg``).

    Returns:
        A list of ``num_classes`` strings.
    """
    cfg = cfg_dict(model_or_cfg)
    num_classes = _num_classes(model_or_cfg, cfg)
    if num_classes > MAX_CLASSES:
        raise ConfigError(f"num_classes={num_classes:,} is more than {MAX_CLASSES:,}.")
    names = cfg.get("label_names")
    if names:
        if isinstance(names, Mapping):
            names = [names.get(i, names.get(str(i), f"class_{i}")) for i in range(num_classes)]
        descriptions = cfg.get("label_descriptions") or {}
        labels = [str(descriptions.get(n, n)) for n in names]
        if not num_classes or len(labels) == num_classes:
            return labels
    from timm.data import infer_imagenet_subset

    subset = infer_imagenet_subset(cfg) if cfg.get("num_classes") == num_classes else None
    if subset:
        return list(_imagenet_descriptions(subset))
    return [f"class_{i}" for i in range(num_classes)]


@functools.lru_cache(maxsize=4)
def _imagenet_descriptions(subset: str) -> tuple[str, ...]:
    """timm's ImageNet class descriptions (parsed from its package files once per subset)."""
    from timm.data import ImageNetInfo

    return tuple(ImageNetInfo(subset).label_descriptions())


def get_palette(model_or_cfg: ModelOrCfg) -> Palette:
    """RGB colours (0–255), one per class, for drawing a segmentation model's masks.

    The record's palette (:attr:`zoo.meta.ZooMeta.palette`) when it has one colour per
    output; otherwise the PASCAL VOC colour map for the number of classes.
    """
    num_classes = _num_classes(model_or_cfg, cfg_dict(model_or_cfg))
    palette = meta_of(model_or_cfg).palette
    if palette is not None and len(palette) == num_classes:
        return palette
    return voc_palette(num_classes)


def id2label(labels: list[str]) -> dict[str, str]:
    """Hugging Face's ``id2label`` mapping (JSON object keys are strings)."""
    return {str(i): name for i, name in enumerate(labels)}


def label2id(labels: list[str]) -> dict[str, int]:
    """Hugging Face's ``label2id`` mapping (a repeated name keeps its last index, as in HF)."""
    return {name: i for i, name in enumerate(labels)}
