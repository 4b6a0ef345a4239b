"""Data sets for training: the data spec, what every format shares, and :func:`build_data`.

The trainer and ``train.validate`` import this module only; each format lives in its own:
:mod:`train.digits` (scikit-learn's real digits, in memory), :mod:`train.folders`
(classification folders: ``imagefolder``, ``cifar10``), :mod:`train.masks` (image/mask pairs
and the ``masks`` format) and :mod:`train.benchmark_layouts` (``voc``, ``cityscapes``,
``ade20k``). They import the shared types from here; :func:`build_data` imports them when it
opens a data set, so the import runs one way.

Every data set yields ``(image, target)``: a ``tv_tensors.Image`` / PIL image and an ``int``
class (classification) or a ``tv_tensors.Mask`` of class indices, 255 = ignore (segmentation;
uint8, so a loaded split never holds int64 masks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

import zoo

IGNORE_INDEX = 255
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
FORMATS = (
    "imagefolder",
    "cifar10",
    "voc",
    "cityscapes",
    "ade20k",
    "masks",
    "digits",
    "digits-hard",
)
#: Formats generated in memory (no path).
BUILT_IN = ("digits", "digits-hard")
SPLITS = ("train", "val")
#: The task of each on-disk format (digits serve both).
FORMAT_TASKS = {
    "imagefolder": "classification",
    "cifar10": "classification",
    "voc": "segmentation",
    "cityscapes": "segmentation",
    "ade20k": "segmentation",
    "masks": "segmentation",
    "digits-hard": "segmentation",
}


class DataError(zoo.ZooError, ValueError):
    """A data set on disk that cannot be used as it is; the message names the file."""


@dataclass(frozen=True)
class Augment:
    """Training-augmentation defaults of a data format (``--hflip``/``--scale`` override)."""

    hflip: float
    scale: tuple[float, float]


#: Defaults per data format and task. Digits are orientation-sensitive (no flip) and, like
#: CIFAR-10, tiny: a RandomResizedCrop down to 8 % of an 8×8 image leaves no digit.
AUGMENT_DEFAULTS: dict[tuple[str, str], Augment] = {
    ("digits", "classification"): Augment(hflip=0.0, scale=(0.6, 1.0)),
    ("digits", "segmentation"): Augment(hflip=0.0, scale=(0.5, 2.0)),
    ("digits-hard", "segmentation"): Augment(hflip=0.0, scale=(0.5, 2.0)),
    ("cifar10", "classification"): Augment(hflip=0.5, scale=(0.6, 1.0)),
    ("imagefolder", "classification"): Augment(hflip=0.5, scale=(0.08, 1.0)),
    ("voc", "segmentation"): Augment(hflip=0.5, scale=(0.5, 2.0)),
    ("cityscapes", "segmentation"): Augment(hflip=0.5, scale=(0.5, 2.0)),
    ("ade20k", "segmentation"): Augment(hflip=0.5, scale=(0.5, 2.0)),
    ("masks", "segmentation"): Augment(hflip=0.5, scale=(0.5, 2.0)),
}


@dataclass
class DataSplits:
    """Training and validation sets of one task, with their class names (and mask colours)."""

    name: str
    task: str
    train: Dataset
    val: Dataset
    classes: list[str]
    palette: list[tuple[int, int, int]] | None = None
    augment: Augment = Augment(hflip=0.5, scale=(0.08, 1.0))
    #: The longest image side when the format fixes it (digit canvases: 64), else None
    #: (:func:`train.build.image_size` then reads a few image headers).
    image_side: int | None = None


def parse_spec(spec: str) -> tuple[str, str]:
    """``"masks:path/to/data"`` → ``("masks", "path/to/data")``; ``"digits"`` → ``("digits", "")``.

    Raises:
        DataError: Unknown format.
    """
    kind, _, path = spec.partition(":")
    if kind not in FORMATS:
        raise DataError(f"Unknown data format {kind!r} in {spec!r}; use one of {FORMATS}")
    if kind not in BUILT_IN and not path:
        raise DataError(f"{kind}: needs a path, e.g. {kind}:path/to/dataset")
    return kind, path


def build_data(
    spec: str,
    task: str,
    seed: int = 0,
    num_classes: int | None = None,
    splits: Sequence[str] = SPLITS,
) -> DataSplits:
    """Open the data set ``spec`` for ``task`` ("classification" or "segmentation").

    Args:
        spec: ``FORMAT:PATH`` (see :data:`FORMATS`) or ``digits``.
        task: What the model does.
        seed: Fixes the random train/val split of formats that have none on disk.
        num_classes: The class count, for ``masks:`` without a ``classes.json``.
        splits: The splits that must exist (``"train"``, ``"val"``). Formats whose splits are
            separate directories (``voc``, ``cityscapes``, ``ade20k``) leave the others out,
            as empty data sets; evaluation asks for one split only.

    Raises:
        DataError: Wrong format for the task, missing directories or files, bad labels.
    """
    kind, path = parse_spec(spec)
    root = Path(path).expanduser()
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown or not splits:
        raise DataError(f"{spec}: unknown split {unknown or list(splits)}; use train or val")
    if kind not in BUILT_IN and not root.exists():
        raise DataError(f"{kind}: no such directory {root}")
    wanted = FORMAT_TASKS.get(kind, task)
    if wanted != task:
        raise DataError(f"{kind}: is a {wanted} data set, but the model does {task}")
    from .benchmark_layouts import ade20k, cityscapes, voc
    from .digits import digits
    from .folders import cifar10, image_folder
    from .masks import masks

    if kind in BUILT_IN:
        data = digits(task, seed, hard=kind == "digits-hard")
    elif kind == "imagefolder":
        data = image_folder(root, seed)
    elif kind == "cifar10":
        data = cifar10(root)
    elif kind == "voc":
        data = voc(root, splits)
    elif kind == "cityscapes":
        data = cityscapes(root, splits)
    elif kind == "ade20k":
        data = ade20k(root, splits)
    else:
        data = masks(root, seed, num_classes, splits)
    data.augment = AUGMENT_DEFAULTS[kind, task]
    _check_splits(data, spec, num_classes, splits)
    return data


def _check_splits(
    splits: DataSplits, spec: str, num_classes: int | None, wanted: Sequence[str] = SPLITS
) -> None:
    classes = len(splits.classes)
    if classes < 2:
        raise DataError(f"{spec}: {classes} class ({splits.classes}); training needs at least 2")
    if splits.task == "segmentation" and classes > IGNORE_INDEX:
        raise DataError(f"{spec}: {classes} classes; at most {IGNORE_INDEX} (255 means ignore)")
    if num_classes is not None and num_classes != classes:
        raise DataError(
            f"--num-classes {num_classes} disagrees with the {classes} classes of {spec}; "
            "drop --num-classes"
        )
    for split, part, dataset in (("train", "training", splits.train),
                                 ("val", "validation", splits.val)):  # fmt: skip
        if split in wanted and len(dataset) == 0:  # type: ignore[arg-type]
            raise DataError(f"{spec}: the {part} split is empty; add images")


def split_indices(n: int, seed: int, val_fraction: float) -> tuple[list[int], list[int]]:
    """A random train/val split of ``range(n)`` for formats that have none on disk.

    Args:
        n: The number of items.
        seed: Fixes the permutation (the same ``seed`` gives the same split).
        val_fraction: The share that goes to validation (at least one item).

    Returns:
        The training and the validation indices, each sorted.
    """
    order = np.random.default_rng(seed).permutation(n).tolist()
    cut = max(1, round(n * val_fraction))
    return sorted(order[cut:]), sorted(order[:cut])
