"""Class names for a model's outputs."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from torch import nn


def _cfg_dict(model_or_cfg: nn.Module | Mapping[str, Any] | Any) -> dict[str, Any]:
    if isinstance(model_or_cfg, nn.Module):
        cfg = getattr(model_or_cfg, "pretrained_cfg", None) or {}
    else:
        cfg = model_or_cfg
    if hasattr(cfg, "to_dict"):
        cfg = cfg.to_dict()
    return dict(cfg)


def get_labels(model_or_cfg: nn.Module | Mapping[str, Any] | Any) -> list[str]:
    """Human-readable class names, one per output index.

    Resolution order: the cfg's ``label_names`` (mapped through ``label_descriptions`` when
    present, as timm stores ImageNet synsets); then ImageNet names inferred by timm from the
    pretrained cfg (``imagenet-1k``, ``imagenet-22k``, ...); then ``class_0 ... class_{K-1}``.

    Args:
        model_or_cfg: A model with a ``pretrained_cfg`` attribute, or the cfg itself (a dict or
            timm ``PretrainedCfg``).

    Returns:
        A list of ``num_classes`` strings.
    """
    cfg = _cfg_dict(model_or_cfg)
    num_classes = int(cfg.get("num_classes") or 0)
    if isinstance(model_or_cfg, nn.Module):
        num_classes = int(getattr(model_or_cfg, "num_classes", num_classes) or num_classes)
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


def id2label(labels: list[str]) -> dict[str, str]:
    """Hugging Face's ``id2label`` mapping (JSON object keys are strings)."""
    return {str(i): name for i, name in enumerate(labels)}


def label2id(labels: list[str]) -> dict[str, int]:
    """Hugging Face's ``label2id`` mapping (a repeated name keeps its last index, as in HF)."""
    return {name: i for i, name in enumerate(labels)}
