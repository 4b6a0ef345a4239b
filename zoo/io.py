"""Saving models to a directory (safetensors + timm-style config.json) and loading them back."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from torch import nn

from .atomic import atomic_write, replace_directory
from .datasets import Palette
from .errors import ConfigError
from .factory import create_model
from .labels import get_labels, get_palette, id2label, label2id
from .meta import CONFIG_NAME, ZooMeta, meta_of

WEIGHTS_NAME = "model.safetensors"


def timm_only(architecture: str) -> bool:
    """Whether plain timm (without ``import zoo``) knows ``architecture``: True for timm's own
    models (``tf_efficientnet_lite0``), False for the zoo's (``resnet20_cifar``,
    ``deeplabv3_tf_efficientnet_lite0``), which ``import zoo`` registers in timm."""
    import timm.models

    try:
        entrypoint = timm.models.model_entrypoint(architecture)
    except RuntimeError:  # not registered at all
        return False
    return str(getattr(entrypoint, "__module__", "")).startswith("timm.")


def usage(architecture: str) -> dict[str, str]:
    """What loading a saved ``architecture`` needs: the ``install`` command and the ``import``
    line to run before ``timm.create_model("hf-hub:...")`` (the ``usage`` field of
    ``config.json``; the model card's snippet says the same)."""
    if timm_only(architecture):
        return {"install": "pip install timm", "import": "import timm"}
    return {
        "install": "pip install vision-zoo",
        "import": f"import zoo  # before timm.create_model: registers {architecture} in timm",
    }


def saved_meta(
    model: nn.Module,
    labels: Sequence[str] | None = None,
    palette: Palette | Sequence[Sequence[int]] | None = None,
    metrics: Mapping[str, float | str] | None = None,
    dataset: str | None = None,
) -> ZooMeta:
    """The record a save writes: the model's own, updated with what is given.

    When ``labels`` differ from the model's (a head trained on other data), the inherited
    data-set facts (metrics, data set, its terms, palette, test-time resize) no longer describe
    the weights and are dropped unless given again.
    """
    meta = meta_of(model)
    if labels is not None and list(labels) != get_labels(model):
        meta = ZooMeta(task=meta.task)
    updates: dict[str, Any] = {}
    if palette is not None:
        updates["palette"] = palette
    if metrics is not None:
        updates["metrics"] = dict(metrics)
    if dataset is not None:
        updates["dataset"] = dataset
        updates["data_license"] = None  # a known data set's record states its terms
    meta = dataclasses.replace(meta, **updates)
    if meta.task == "segmentation":  # one colour per output, whatever the head was reset to
        num_classes = len(labels) if labels is not None else model.num_classes
        colours = get_palette({"num_classes": num_classes, "zoo": meta})
        meta = dataclasses.replace(meta, palette=colours)
    return meta


def _export_args(model: nn.Module) -> dict[str, Any]:
    """Saved reconstruction arguments: a reload must not fetch ImageNet backbone weights."""
    recorded = getattr(model, "_model_args", {}) or {}
    return {"pretrained_backbone": False} if "pretrained_backbone" in recorded else {}


@contextmanager
def _timm_cfg_only(model: nn.Module) -> Iterator[None]:
    """timm writes ``model.pretrained_cfg`` into config.json, which timm alone must be able to
    read back: hide the zoo's record (written at the top level instead) while it does."""
    cfg: dict[str, Any] = cast(dict, model.pretrained_cfg)
    model.pretrained_cfg = {k: v for k, v in cfg.items() if k != "zoo"}  # type: ignore[assignment]
    try:
        yield
    finally:
        model.pretrained_cfg = cfg  # type: ignore[assignment]


def _config_json(model: nn.Module, fields: dict[str, Any], input_size: Sequence[int] | None) -> str:
    from timm.models._hub import save_config_for_hf

    data_config = {"input_size": tuple(input_size)} if input_size is not None else None
    with tempfile.TemporaryDirectory(prefix="zoo-config-") as tmp, _timm_cfg_only(model):
        path = Path(tmp) / CONFIG_NAME
        save_config_for_hf(model, str(path), model_config={"label_names": fields["label_names"]},
                           model_args=_export_args(model), data_config=data_config)  # fmt: skip
        config = json.loads(path.read_text(encoding="utf-8"))
    config.update(fields)
    return json.dumps(config, indent=2)


def _num_classes(model: Any) -> int:
    num_classes = getattr(model, "num_classes", None)
    if not isinstance(model, nn.Module) or not hasattr(model, "pretrained_cfg"):
        raise ConfigError(
            f"save_pretrained needs a model built by zoo.create_model or timm, got "
            f"{type(model).__name__} (unwrap DataParallel/DDP/torch.compile first: .module, "
            "._orig_mod)."
        )
    if not isinstance(num_classes, int):
        raise ConfigError(f"{type(model).__name__} has no num_classes; it cannot be saved.")
    return num_classes


def _labels(model: nn.Module, labels: Sequence[str] | None, num_classes: int) -> list[str]:
    if labels is None:
        return get_labels(model)
    if isinstance(labels, str) or not all(isinstance(n, str) for n in labels):
        raise ConfigError(f"labels must be a list of strings, got {labels!r:.80}")
    if len(labels) != num_classes:
        raise ConfigError(f"Expected {num_classes} label names, got {len(labels)}.")
    return list(labels)


def _palette(palette: Any, num_classes: int) -> Palette | None:
    if palette is None:
        return None
    try:
        colours = tuple((int(c[0]), int(c[1]), int(c[2])) for c in palette)
        valid = all(len(c) == 3 for c in palette) and all(0 <= v <= 255 for c in colours for v in c)
    except (TypeError, ValueError, IndexError):
        valid = False
    if not valid or isinstance(palette, str):
        raise ConfigError(
            f"palette must be (r, g, b) triples of integers 0–255, got {palette!r:.80}"
        )
    if len(colours) != num_classes:
        raise ConfigError(f"Expected {num_classes} palette colours, got {len(colours)}.")
    return colours


def _metrics(metrics: Any) -> dict[str, float | str] | None:
    if metrics is None:
        return None
    if not isinstance(metrics, Mapping):
        raise ConfigError(f"metrics must be a mapping of name to value, got {metrics!r:.80}")
    out: dict[str, float | str] = {}
    for name, value in metrics.items():
        if isinstance(value, str):
            out[str(name)] = value
            continue
        try:
            number = float(value)  # numpy and 0-d tensor scalars too
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise ConfigError(f"metric {name!r} must be a finite number or a string, got {value!r}")
        out[str(name)] = number
    return out


def _directory(directory: Any) -> Path:
    if not isinstance(directory, (str, os.PathLike)) or not str(directory):
        raise ConfigError(f"directory must be a non-empty path, got {directory!r}")
    path = Path(directory)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise ConfigError(f"Cannot save to {path}: {part} is a file, not a directory.")
    return path


def save_pretrained(
    model: nn.Module,
    directory: str | os.PathLike[str],
    *,
    labels: Sequence[str] | None = None,
    palette: Palette | Sequence[Sequence[int]] | None = None,
    metrics: Mapping[str, float | str] | None = None,
    dataset: str | None = None,
    input_size: Sequence[int] | None = None,
    replace: bool = False,
) -> Path:
    """Write ``model.safetensors`` and ``config.json`` to ``directory``.

    The config uses timm's layout (``architecture``, ``num_classes``, ``model_args``,
    ``pretrained_cfg``), so ``timm.create_model("local-dir:...")`` loads it too, plus Hugging
    Face's ``id2label``/``label2id``, the zoo's record at the top level (``task``,
    ``palette``, ``metrics``, ``dataset``, ``data_license``, ``test_resize``) and ``usage``
    (what to install and import to load it, see :func:`usage`). Each file is
    written to a temporary name and renamed into place, so an interrupted save never leaves a
    truncated file under its final name; other files in ``directory`` are left alone, unless
    ``replace`` asks for the whole directory to be swapped for the new one in one step.

    Args:
        model: A model built by :func:`zoo.create_model` (or timm).
        directory: Target directory; created if missing.
        labels: Class names (default: the model's own, see :func:`zoo.get_labels`).
        palette: Mask colours, one RGB triple per class (segmentation; default: the model's).
        metrics: Evaluation results to record (replace the model's published ones);
            accuracy-type metrics (mIoU, top1, ...) in percent (see :class:`zoo.meta.ZooMeta`).
        dataset: The data set the model was trained on.
        input_size: ``(C, H, W)`` to record as the model's input size (e.g. the training crop).
        replace: Build the directory beside ``directory`` and swap it in whole (readers never
            see new weights with an old config); other files in it are removed.

    Returns:
        The directory path.

    Raises:
        ConfigError: Not a timm/zoo model; ``labels`` or ``palette`` not one valid entry per
            output class; metrics that are not finite numbers or strings; a bad
            ``input_size``; ``directory`` empty or an existing file.
    """
    from safetensors.torch import save as safetensors_bytes

    num_classes = _num_classes(model)
    names = _labels(model, labels, num_classes)
    colours = _palette(palette, num_classes)
    scores = _metrics(metrics)
    directory = _directory(directory)
    if input_size is not None and not (
        len(input_size) == 3 and all(isinstance(v, int) and 0 < v <= 4096 for v in input_size)
    ):
        raise ConfigError(f"input_size must be (C, H, W) positive integers, got {input_size!r}.")
    meta = saved_meta(model, labels, colours, scores, dataset)
    architecture = str(cast(dict, model.pretrained_cfg).get("architecture") or "")
    fields = {"label_names": names, "id2label": id2label(names), "label2id": label2id(names),
              **meta.to_config(), "usage": usage(architecture)}  # fmt: skip
    config = _config_json(model, fields, input_size)
    # contiguous(): channels_last weights are strided, which safetensors refuses
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    payload = safetensors_bytes(tensors, metadata={"format": "pt"})
    if replace:
        with replace_directory(directory) as staging:
            (staging / WEIGHTS_NAME).write_bytes(payload)
            (staging / CONFIG_NAME).write_text(config, encoding="utf-8")
        return directory
    with atomic_write(directory / WEIGHTS_NAME) as file:
        file.write(payload)
    with atomic_write(directory / CONFIG_NAME, "w") as file:
        file.write(config)
    return directory


def from_pretrained(directory: str | os.PathLike[str], **kwargs: Any) -> nn.Module:
    """Load a model saved by :func:`save_pretrained` (same as ``create_model("local-dir:...")``).

    Raises:
        CheckpointError: The directory is missing, incomplete or its weights are corrupt.
    """
    return create_model(f"local-dir:{Path(directory)}", pretrained=True, **kwargs)
