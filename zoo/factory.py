"""Creating, listing and describing models by name (on top of timm's registry)."""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from timm.models import get_pretrained_cfg, parse_model_name
from torch import nn

from .datasets import Palette
from .errors import CheckpointError, ConfigError, UnknownModelError, ZooError
from .hub import hub_guard
from .labels import get_labels, get_palette
from .meta import (
    MAX_CLASSES,
    TASKS,
    TestResize,
    ZooMeta,
    check_config,
    default_test_resize,
    meta_of,
    read_config,
    zoo_cfg,
)
from .registry import model_task, resolve_name, unknown_model
from .weights import (
    WeightSource,
    create_pretrained,
    has_weights_file,
    hub_source,
    local_source,
    weight_source,
)


def parse_name(name: str) -> tuple[str | None, str]:
    """Split ``hf-hub:org/repo[@rev]`` / ``local-dir:path`` / a registry name into
    ``(source, identifier)``, checking the form of each.

    Raises:
        UnknownModelError: Not a non-empty string, an unknown prefix, an empty path, or a Hub
            id that is not ``org/name`` with allowed characters.
    """
    if not isinstance(name, str) or not name.strip():
        raise UnknownModelError(f"A model name must be a non-empty string, got {name!r}.")
    try:
        source, identifier = parse_model_name(name.strip())
    except ValueError as exc:
        raise UnknownModelError(
            f"{exc} Use a registry name, hf-hub:org/name or local-dir:path."
        ) from exc
    if source == "local-dir" and not identifier:
        raise UnknownModelError("'local-dir:' needs a directory, e.g. local-dir:runs/exp/best.")
    if source == "hf-hub":
        _check_repo_id(name, identifier)
    return source, identifier


def _check_repo_id(name: str, identifier: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    repo_id, _, revision = identifier.partition("@")
    try:
        if repo_id.count("/") != 1 or "@" in revision:
            raise HFValidationError("expected exactly one '/'")
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UnknownModelError(
            f"'{name}' is not a Hub model name: expected hf-hub:org/name[@revision] "
            f"(letters, digits, '-', '_', '.'), got {identifier!r} ({exc})."
        ) from None


def _check_num_classes(num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise ConfigError(
            f"num_classes must be a non-negative integer (0: no classifier), got {num_classes!r}."
        )
    if num_classes > MAX_CLASSES:
        raise ConfigError(f"num_classes={num_classes:,} is more than {MAX_CLASSES:,}.")
    return num_classes


def _build(name: str, **kwargs: Any) -> nn.Module:
    """``timm.create_model`` with architecture-argument mistakes reported as ConfigError."""
    try:
        return timm.create_model(name, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"'{name}' does not accept these arguments: {exc}") from exc


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
    its record names one and it is installed (no network), otherwise from the Hugging Face Hub
    or its published URL.

    Args:
        name: Model name.
        pretrained: Load pretrained weights. Default: True for ``hf-hub:``/``local-dir:`` names,
            False otherwise.
        num_classes: Output classes; with pretrained weights a different value replaces the
            classifier with a freshly initialised one.
        **kwargs: Passed to the architecture (e.g. ``drop_rate``, ``in_chans``, ``backbone``).

    Returns:
        The model, in training mode, with ``pretrained_cfg`` describing its weights and inputs
        (its zoo record under ``pretrained_cfg["zoo"]``).

    Raises:
        UnknownModelError: Unknown architecture, tag, source prefix or Hub repository.
        ConfigError: An argument the architecture does not accept, or ``num_classes`` < 0.
        WeightsUnavailableError: The tag has no pretrained weights.
        HubUnreachableError: The weights need the Hub, it does not answer within seconds and the
            files are not cached.
        CheckpointError: A saved directory is missing, incomplete or corrupt.
    """
    source, identifier = parse_name(name)
    if num_classes is not None:
        kwargs["num_classes"] = _check_num_classes(num_classes)
    if source is not None:
        return _create_saved(name, source, identifier, pretrained is not False, kwargs)
    full_name = resolve_name(name)
    if not pretrained:
        return _build(full_name, pretrained=False, **_without_published_facts(full_name, kwargs))
    try:
        return create_pretrained(full_name, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"'{full_name}' does not accept these arguments: {exc}") from exc


def _without_published_facts(full_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Random weights are not the tag's weights: their record keeps what describes the
    architecture and its labels (task, palette, test-time resize), not the published metrics,
    data set and its terms, or an install source."""
    meta = meta_of(get_pretrained_cfg(full_name))
    if not (meta.metrics or meta.dataset or meta.data_license or meta.installed or meta.source):
        return kwargs
    fresh = dataclasses.replace(
        meta, metrics={}, dataset=None, data_license=None, installed=None, source={}
    )
    overlay = {**(kwargs.get("pretrained_cfg_overlay") or {}), "zoo": fresh}
    return {**kwargs, "pretrained_cfg_overlay": overlay}


def _saved_config(name: str, source: str, identifier: str) -> tuple[dict[str, Any], Any]:
    """The raw ``config.json`` of a saved model, and timm's parse of it."""
    from timm.models._hub import load_model_config_from_hf, load_model_config_from_path

    if source == "local-dir":
        directory = Path(identifier).expanduser()
        config = read_config(directory)
        return config, load_model_config_from_path(directory)
    from huggingface_hub import hf_hub_download
    from timm.models._hub import hf_split

    repo_id, revision = hf_split(identifier)
    with hub_guard(name):
        path = hf_hub_download(repo_id, "config.json", revision=revision)
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CheckpointError(f"{name}: config.json is not valid JSON: {exc}") from exc
        config = check_config(raw, f"{name} (config.json)")
        return config, load_model_config_from_hf(identifier)


def _saved_meta(config: dict[str, Any], architecture: str) -> ZooMeta:
    meta = ZooMeta.from_dict(config)
    if "task" not in config and timm.is_model(architecture):
        meta = dataclasses.replace(meta, task=model_task(architecture))
    return meta


def _create_saved(
    name: str, source: str, identifier: str, pretrained: bool, kwargs: dict[str, Any]
) -> nn.Module:
    from safetensors import SafetensorError

    config, (timm_cfg, architecture, model_args) = _saved_config(name, source, identifier)
    directory = Path(identifier).expanduser()
    if source == "local-dir" and pretrained and not has_weights_file(directory):
        raise CheckpointError(f"'{directory}' has no weights file (expected model.safetensors).")
    if not timm.is_model(architecture):
        raise CheckpointError(
            f"{name}: config.json names architecture '{architecture}', which is not registered "
            f"here ({unknown_model(architecture)})"
        )
    cfg = zoo_cfg(timm_cfg, _saved_meta(config, architecture))
    arguments = {**model_args, **kwargs}
    try:
        with hub_guard(name):
            return _build(architecture, pretrained=pretrained, pretrained_cfg=cfg, **arguments)
    except ZooError:
        raise
    except AttributeError:  # timm's loader looking up a layer the config names
        _check_layers(name, architecture, timm_cfg, arguments)  # a config of another model
        raise  # not that: a bug, shown as one
    except (RuntimeError, OSError, ValueError, KeyError, IndexError, SafetensorError) as exc:
        raise CheckpointError(
            f"Could not load the saved model '{name}' (truncated or corrupt weights, or a "
            f"config.json that does not match them): {type(exc).__name__}: {exc}"
        ) from exc


def _check_layers(
    name: str, architecture: str, timm_cfg: dict[str, Any], arguments: dict[str, Any]
) -> None:
    """Refuse a ``config.json`` whose ``first_conv`` is not a layer of the architecture it
    names (timm's loader fails on it with an ``AttributeError``); checked only after such a
    failure, so a good load pays nothing for it.

    Raises:
        CheckpointError: Such a layer does not exist (the config and the weights are of
            different architectures).
    """
    with torch.device("meta"):  # the layer names only, no memory
        layers = {n for n, _ in _build(architecture, pretrained=False, **arguments).named_modules()}
    named = timm_cfg.get("first_conv") or ()
    for layer in [named] if isinstance(named, str) else named:
        if layer not in layers:
            raise CheckpointError(
                f"{name}: config.json's first_conv '{layer}' is not a layer of "
                f"'{architecture}' (the config describes another architecture)."
            )


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
        ConfigError: Unknown task.
    """
    if task is not None and task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS} or None, got {task!r}")
    names = timm.list_models(pattern, pretrained=pretrained)
    return [n for n in names if task is None or meta_of(get_pretrained_cfg(n)).task == task]


@dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows about a model name (see :func:`model_info`).

    Attributes:
        name: ``architecture.tag`` (or the architecture when it has no tags), or the
            ``hf-hub:``/``local-dir:`` name as given.
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
        weights: Where the weights come from and, when checked, whether they load here
            (:class:`zoo.weights.WeightSource`).
        license: Licence of the weights, when known.
        paper_ids: Papers the architecture or weights follow (arXiv ids, DOIs).
        metrics: Published evaluation of the weights (e.g. ``{"mIoU": 66.4, ...}``), or the
            validation metrics a trained model was saved with.
        dataset: Data set the weights were trained on, if known.
        data_license: That data set's terms of use, if known.
        palette: One RGB colour per class (segmentation), else None.
        test_resize: The test-time resize the weights' authors used, if known.
        source: Where converted weights came from (``url``, ``sha256``, ``config``), if known.
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
    weights: WeightSource
    license: str | None
    paper_ids: tuple[str, ...] | None
    metrics: dict[str, float | str] = field(default_factory=dict)
    dataset: str | None = None
    data_license: str | None = None
    palette: Palette | None = field(default=None, repr=False)
    test_resize: TestResize | None = None
    source: dict[str, str] = field(default_factory=dict)

    @property
    def weight_source(self) -> str:
        """``"installed:<package>"``, ``"hub:<repo>"``, ``"url:<url>"``, ``"local-dir:<path>"``,
        ``"hf-hub:<repo>"`` or ``"none"`` (:attr:`WeightSource.ref`)."""
        return self.weights.ref

    @property
    def available(self) -> bool | None:
        """Whether the weights can be loaded here now (None: not checked)."""
        return self.weights.available

    @property
    def availability(self) -> str:
        """Where the weights would load from, or why they cannot ("" when not checked)."""
        return self.weights.reason

    def resize_policy(self) -> TestResize:
        """The test-time resize :func:`zoo.segment` applies to this model's inputs (and
        ``python -m train.validate`` evaluates with): ``test_resize`` where the weights record
        one, else the short side to the short side of ``input_size``, keeping the aspect ratio.
        ``.output_size(w, h)`` gives an image's test-time ``(width, height)``."""
        return self.test_resize or default_test_resize(self.input_size)


@functools.lru_cache(maxsize=256)
def _count_params(architecture: str, arguments: str) -> int:
    with torch.device("meta"):
        model = _build(architecture, pretrained=False, **json.loads(arguments))
    return sum(p.numel() for p in model.parameters())


def count_params(name: str, **kwargs: Any) -> int:
    """Parameter count of a registered architecture, built on the meta device (no memory, no
    weights); cached per name and arguments."""
    return _count_params(resolve_name(name), json.dumps(kwargs, sort_keys=True, default=str))


def model_info(name: str, *, check_availability: bool = False) -> ModelInfo:
    """Describe a model name without loading its weights: the one call the demo and trainer use.

    Args:
        name: A registry name, ``local-dir:path`` (reads its ``config.json``) or
            ``hf-hub:org/name`` (reads ``config.json`` from the Hub or its cache).
        check_availability: Also say whether the weights can be loaded here now; this may
            probe the Hub once (at most ~2 s, the answer is cached for 30 s). Never downloads
            weights.

    Raises:
        UnknownModelError: Unknown architecture or tag, or a malformed name.
        CheckpointError: A saved directory without a usable ``config.json``.
        HubUnreachableError: An ``hf-hub:`` name whose config is neither reachable nor cached.
    """
    source, identifier = parse_name(name)
    if source is not None:
        return _saved_info(name, source, identifier, check_availability)
    full_name = resolve_name(name)
    cfg = get_pretrained_cfg(full_name)
    cfg_values = cfg.to_dict() if cfg is not None else {"architecture": full_name.split(".")[0]}
    weights = weight_source(full_name, check=check_availability)
    return _info(full_name, cfg_values, meta_of(cfg), count_params(full_name), weights)


def _info(
    name: str,
    cfg: dict[str, Any],
    meta: ZooMeta,
    params: int,
    weights: WeightSource,
) -> ModelInfo:
    paper_ids = cfg.get("paper_ids")
    if isinstance(paper_ids, str):
        paper_ids = (paper_ids,)
    return ModelInfo(
        name=name,
        architecture=str(cfg.get("architecture") or name.split(".")[0]),
        task=meta.task,
        num_classes=int(cfg.get("num_classes") or 0),
        labels=get_labels(cfg),
        input_size=tuple(cfg.get("input_size", (3, 224, 224))),
        mean=tuple(cfg.get("mean", ())),
        std=tuple(cfg.get("std", ())),
        interpolation=str(cfg.get("interpolation", "bilinear")),
        crop_pct=float(cfg.get("crop_pct", 1.0)),
        params=params,
        weights=weights,
        license=cfg.get("license"),
        paper_ids=tuple(paper_ids) if paper_ids else None,
        metrics=dict(meta.metrics),
        dataset=meta.dataset,
        data_license=meta.terms,
        palette=get_palette({**cfg, "zoo": meta}) if meta.task == "segmentation" else None,
        test_resize=meta.test_resize,
        source=dict(meta.source),
    )


def _saved_info(name: str, source: str, identifier: str, check: bool) -> ModelInfo:
    weights = hub_source(identifier, check) if source == "hf-hub" else None
    config, (timm_cfg, architecture, model_args) = _saved_config(name, source, identifier)
    if not timm.is_model(architecture):
        raise CheckpointError(
            f"{name}: config.json names architecture '{architecture}', which is not registered "
            "here (a newer timm or zoo, or a typo?)."
        )
    meta = _saved_meta(config, architecture)
    arguments = {**model_args, "num_classes": int(timm_cfg.get("num_classes") or 0)}
    try:
        params = _count_params(architecture, json.dumps(arguments, sort_keys=True, default=str))
    except (ZooError, RuntimeError, ValueError, TypeError, KeyError) as exc:
        raise CheckpointError(
            f"{name}: config.json does not describe a buildable model: {exc}"
        ) from exc
    license = timm_cfg.get("license")
    if weights is None:
        weights = local_source(Path(identifier).expanduser(), check, license)
    else:
        weights = dataclasses.replace(weights, license=license)
    cfg = {**timm_cfg, "architecture": architecture}
    return _info(name, cfg, meta, params, weights)
