"""What the zoo adds to timm's registry: each architecture's task.

There is one registry, timm's. Architectures the zoo defines are registered there with
``@timm.models.register_model``; this module only records which task each one serves
(every architecture not listed here is an image classifier, as everything in timm is).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from timm.models import register_model, split_model_name_tag

TASKS = ("classification", "segmentation")

_TASKS: dict[str, str] = {}


def register_task(architecture: str, task: str) -> None:
    """Record the task of a registered architecture.

    Raises:
        ValueError: ``task`` is not one of :data:`TASKS`.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    _TASKS[architecture] = task


def register(task: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``@register_model`` for a zoo architecture of ``task`` (records the task too)."""

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        register_task(fn.__name__, task)
        return register_model(fn)

    return decorator


def zoo_architectures(task: str | None = None) -> list[str]:
    """The architectures the zoo itself defines (not timm's), sorted; optionally of one task."""
    return sorted(a for a, t in _TASKS.items() if task is None or t == task)


_METRICS: dict[str, dict[str, float | str]] = {}


def register_metrics(name: str, metrics: dict[str, float | str]) -> None:
    """Record the published evaluation of a pretrained tag ``architecture.tag``.

    Args:
        name: The tag's full name.
        metrics: e.g. ``{"mIoU": 66.4, "pixel_acc": 92.4, "dataset": "COCO val2017 (VOC labels)"}``.
    """
    _METRICS[name] = dict(metrics)


def published_metrics(name: str) -> dict[str, float | str]:
    """The published evaluation of ``architecture.tag`` (empty when none is recorded)."""
    return dict(_METRICS.get(name, {}))


def model_task(name: str) -> str:
    """The task of ``architecture[.tag]``: ``"segmentation"`` or ``"classification"``."""
    architecture, _ = split_model_name_tag(name)
    return _TASKS.get(architecture, "classification")
