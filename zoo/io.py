"""Saving models to a directory (safetensors + timm-style config.json) and loading them back."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from .errors import CheckpointError
from .labels import get_labels, id2label, label2id
from .palettes import get_palette
from .registry import model_task

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def model_config(model: nn.Module, labels: list[str] | None = None) -> dict[str, Any]:
    """Extra ``config.json`` fields the zoo writes beside timm's own.

    Args:
        model: A zoo/timm model with a ``pretrained_cfg``.
        labels: Class names to record; default: :func:`zoo.get_labels` of the model.

    Returns:
        ``label_names``, ``id2label``, ``label2id`` and ``task``.

    Raises:
        ValueError: ``labels`` does not have one name per output class.
    """
    labels = list(labels) if labels is not None else get_labels(model)
    num_classes = getattr(model, "num_classes", len(labels))
    if len(labels) != num_classes:
        raise ValueError(f"Expected {num_classes} label names, got {len(labels)}.")
    architecture = (getattr(model, "pretrained_cfg", None) or {}).get("architecture", "")
    config: dict[str, Any] = {
        "label_names": labels,
        "id2label": id2label(labels),
        "label2id": label2id(labels),
        "task": model_task(architecture),
    }
    if config["task"] == "segmentation":
        config["palette"] = [list(c) for c in get_palette(model)]
    metrics = getattr(model, "metrics", None)
    if metrics:
        config["metrics"] = dict(metrics)
    return config


def _export_args(model: nn.Module) -> dict[str, Any]:
    """Saved reconstruction arguments: a reload must not fetch ImageNet backbone weights."""
    recorded = getattr(model, "_model_args", {}) or {}
    return {"pretrained_backbone": False} if "pretrained_backbone" in recorded else {}


def save_pretrained(
    model: nn.Module,
    directory: str | os.PathLike[str],
    *,
    labels: list[str] | None = None,
    extra_config: dict[str, Any] | None = None,
) -> Path:
    """Write ``model.safetensors`` and ``config.json`` to ``directory``.

    The config uses timm's layout (``architecture``, ``num_classes``, ``model_args``,
    ``pretrained_cfg``), so ``timm.create_model("local-dir:...")`` loads it too, plus Hugging
    Face's ``id2label``/``label2id``. Files are written to a temporary directory beside the target
    and moved into place one by one with an atomic rename, so an interrupted save never leaves a
    truncated file under the final name.

    Args:
        model: A model built by :func:`zoo.create_model` (or timm).
        directory: Target directory; created if missing, existing files replaced.
        labels: Class names (default: the model's own, see :func:`zoo.get_labels`).
        extra_config: More top-level ``config.json`` fields.

    Returns:
        The directory path.
    """
    from safetensors.torch import save_file
    from timm.models._hub import save_config_for_hf

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {**model_config(model, labels), **(extra_config or {})}
    staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=directory.parent))
    try:
        # contiguous(): channels_last weights are strided, which safetensors refuses
        tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(tensors, str(staging / WEIGHTS_NAME), metadata={"format": "pt"})
        save_config_for_hf(model, str(staging / CONFIG_NAME), model_config=config,
                           model_args=_export_args(model))  # fmt: skip
        for item in sorted(staging.iterdir()):
            os.replace(item, directory / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def from_pretrained(directory: str | os.PathLike[str], **kwargs: Any) -> nn.Module:
    """Load a model saved by :func:`save_pretrained` (same as ``create_model("local-dir:...")``).

    Raises:
        CheckpointError: The directory is missing, incomplete or its weights are corrupt.
    """
    from .factory import create_model

    return create_model(f"local-dir:{Path(directory)}", pretrained=True, **kwargs)


def read_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of a saved model directory.

    Raises:
        CheckpointError: Missing or not valid JSON.
    """
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(
            f"'{directory}' is not a saved model directory: config.json is missing "
            "(zoo.save_pretrained writes config.json and model.safetensors)."
        )
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"Cannot read {path}: {exc}") from exc
