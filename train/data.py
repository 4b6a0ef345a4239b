"""Data sets for training: the formats users have on disk, and scikit-learn's real digits.

Every data set yields ``(image, target)``: a ``tv_tensors.Image`` / PIL image and an ``int``
class (classification) or a ``tv_tensors.Mask`` of class indices, 255 = ignore (segmentation;
uint8, so a loaded split never holds int64 masks).
"""

from __future__ import annotations

import json
import pickle
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Subset
from torchvision import tv_tensors

import zoo

IGNORE_INDEX = 255
#: Digit-canvas pixels at least this bright are ink (labelled with their digit).
INK = 64
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


def _split(n: int, seed: int, val_fraction: float) -> tuple[list[int], list[int]]:
    order = np.random.default_rng(seed).permutation(n).tolist()
    cut = max(1, round(n * val_fraction))
    return sorted(order[cut:]), sorted(order[:cut])


# -- scikit-learn digits --------------------------------------------------------------------
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits_ = load_digits()
    images = (digits_.images * (255.0 / 16.0)).round().astype(np.uint8)  # (1797, 8, 8)
    return images, digits_.target.astype(np.int64)


class DigitsClassification(Dataset):
    """scikit-learn's 1,797 real 8×8 handwritten digits as 3-channel images, labels 0–9."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[tv_tensors.Image, int]:
        gray = torch.from_numpy(self.images[index])  # (8, 8)
        return tv_tensors.Image(gray.expand(3, -1, -1).clone()), int(self.labels[index])


class DigitsCanvas(Dataset):
    """Real digits placed on a canvas; every ink pixel is labelled with its digit.

    Classes: 0 = background, 1–10 = digits 0–9. Each canvas is a 2×2 grid of cells; each cell
    holds a digit (scaled ``scale``×, at a random offset) with probability 0.75. Canvases are
    generated deterministically from ``seed`` and the index.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        count: int,
        seed: int,
        size: int = 64,
        scale: int = 3,
    ) -> None:
        self.images, self.labels = images, labels
        self.count, self.seed, self.size, self.scale = count, seed, size, scale

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        rng = np.random.default_rng([self.seed, index])
        canvas = np.zeros((self.size, self.size), np.uint8)
        mask = np.zeros((self.size, self.size), np.uint8)  # classes 0–10
        cell, glyph = self.size // 2, 8 * self.scale
        for row in range(2):
            for col in range(2):
                if rng.random() > 0.75:
                    continue
                pick = int(rng.integers(len(self.labels)))
                ink = np.kron(self.images[pick], np.ones((self.scale, self.scale), np.uint8))
                y = row * cell + int(rng.integers(0, cell - glyph + 1))
                x = col * cell + int(rng.integers(0, cell - glyph + 1))
                canvas[y : y + glyph, x : x + glyph] = ink
                mask[y : y + glyph, x : x + glyph][ink >= INK] = self.labels[pick] + 1
        image = torch.from_numpy(canvas).expand(3, -1, -1).clone()  # (3, S, S)
        return tv_tensors.Image(image), tv_tensors.Mask(torch.from_numpy(mask))


class HardDigitsCanvas(DigitsCanvas):
    """A harder digit canvas: what a model must see beyond a few pixels to label.

    Each canvas has a noisy background (values below the ink threshold), clutter — 4 to 8
    fragments (a random 3×3 to 5×5 block of a random digit, scaled 2–4×) labelled background —
    and 3 to 5 whole digits at random positions and scales (2–4×: 16 to 32 pixels) that may
    overlap one another and the clutter; a later digit's ink covers what is under it, in the
    image and in the mask. Classes as :class:`DigitsCanvas`.
    """

    def __getitem__(self, index: int) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
        rng = np.random.default_rng([self.seed, index, 1])
        size = self.size
        canvas = rng.integers(0, INK // 2, (size, size)).astype(np.uint8)  # (S, S) noise
        mask = np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(4, 9))):
            side, scale = int(rng.integers(3, 6)), int(rng.integers(2, 5))
            top, left = (int(v) for v in rng.integers(0, 8 - side + 1, 2))
            piece = self.images[int(rng.integers(len(self.labels)))][
                top : top + side, left : left + side
            ]
            self._paste(canvas, None, np.kron(piece, np.ones((scale, scale), np.uint8)), 0, rng)
        for _ in range(int(rng.integers(3, 6))):
            pick, scale = int(rng.integers(len(self.labels))), int(rng.integers(2, 5))
            ink = np.kron(self.images[pick], np.ones((scale, scale), np.uint8))
            self._paste(canvas, mask, ink, int(self.labels[pick]) + 1, rng)
        image = torch.from_numpy(canvas).expand(3, -1, -1).clone()  # (3, S, S)
        return tv_tensors.Image(image), tv_tensors.Mask(torch.from_numpy(mask))

    def _paste(
        self,
        canvas: np.ndarray,
        mask: np.ndarray | None,
        ink: np.ndarray,
        label: int,
        rng: np.random.Generator,
    ) -> None:
        """Draw ``ink`` at a random position; its ink pixels (≥ :data:`INK`) cover the canvas
        and, with a ``mask``, are labelled ``label``."""
        height, width = ink.shape
        y = int(rng.integers(0, self.size - height + 1))
        x = int(rng.integers(0, self.size - width + 1))
        drawn = ink >= INK
        canvas[y : y + height, x : x + width][drawn] = ink[drawn]
        if mask is not None:
            mask[y : y + height, x : x + width][drawn] = label


def digits(task: str, seed: int = 0, hard: bool = False) -> DataSplits:
    """The digits split 80/20 (fixed by ``seed``); as canvases for segmentation (``hard``:
    :class:`HardDigitsCanvas`, segmentation only)."""
    images, labels = _digits_arrays()
    train_idx, val_idx = _split(len(labels), seed, 0.2)
    train: Dataset
    val: Dataset
    if task == "classification":
        train = DigitsClassification(images[train_idx], labels[train_idx])
        val = DigitsClassification(images[val_idx], labels[val_idx])
        return DataSplits("digits", task, train, val, [str(d) for d in range(10)])
    canvas = HardDigitsCanvas if hard else DigitsCanvas
    train = canvas(images[train_idx], labels[train_idx], count=800, seed=seed)
    val = canvas(images[val_idx], labels[val_idx], count=200, seed=seed + 1)
    names = ["background"] + [str(d) for d in range(10)]
    name = "digits-hard" if hard else "digits-canvas"
    return DataSplits(name, task, train, val, names, image_side=train.size)


# -- classification folders -----------------------------------------------------------------
def image_folder(root: Path, seed: int = 0) -> DataSplits:
    """``root/train/<class>/*.jpg`` + ``root/val/<class>/*.jpg``, or one ``root/<class>/``
    tree split 90/10."""
    from torchvision.datasets import ImageFolder

    class Folder(ImageFolder):
        """Class folders, hidden ones (``.git``, ``.ipynb_checkpoints``) left out."""

        def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
            names = sorted(e.name for e in Path(directory).iterdir()
                           if e.is_dir() and not e.name.startswith("."))  # fmt: skip
            if not names:
                raise FileNotFoundError(f"no class folders in {directory}")
            return names, {name: i for i, name in enumerate(names)}

    def open_folder(path: Path) -> ImageFolder:
        try:
            return Folder(str(path), loader=zoo.load_image)
        except (FileNotFoundError, RuntimeError, NotADirectoryError) as exc:
            raise DataError(f"imagefolder: {path}: {exc}") from exc

    if not root.is_dir():
        raise DataError(f"imagefolder: {root} is not a directory")
    if (root / "train").is_dir() != (root / "val").is_dir():
        have, missing = ("train", "val") if (root / "train").is_dir() else ("val", "train")
        raise DataError(
            f"imagefolder: {root} has {have}/ but no {missing}/; use train/ and val/, or one "
            "folder per class (split 90/10)"
        )
    if (root / "train").is_dir() and (root / "val").is_dir():
        train, val = open_folder(root / "train"), open_folder(root / "val")
        if train.classes != val.classes:
            raise DataError(f"imagefolder: {root}/train and {root}/val have different classes")
        return DataSplits(f"imagefolder:{root.name}", "classification", train, val, train.classes)
    full = open_folder(root)
    train_idx, val_idx = _split(len(full), seed, 0.1)
    return DataSplits(
        f"imagefolder:{root.name}",
        "classification",
        Subset(full, train_idx),
        Subset(full, val_idx),
        full.classes,
    )


def cifar10(root: Path) -> DataSplits:
    """The CIFAR-10 python batches (``cifar-10-batches-py``) under ``root``; never downloads."""
    from torchvision.datasets import CIFAR10

    base = root.parent if root.name == "cifar-10-batches-py" else root
    try:
        train = CIFAR10(str(base), train=True, download=False)
        val = CIFAR10(str(base), train=False, download=False)
    except (RuntimeError, OSError, pickle.UnpicklingError) as exc:
        raise DataError(
            f"cifar10: no readable CIFAR-10 python batches in {base / 'cifar-10-batches-py'} "
            f"({exc}). Expected data_batch_1..5, test_batch and batches.meta."
        ) from exc
    return DataSplits("cifar10", "classification", train, val, list(train.classes))


# -- segmentation ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LabelMap:
    """How a format's raw mask values become class indices.

    Attributes:
        table: ``(256,)`` int16: raw value → class index, 255 = ignore, -1 = a value the
            format never uses (an error that names the file).
        expected: The raw values the format uses, for that error message.
    """

    table: np.ndarray
    expected: str


def _label_map(mapping: Mapping[int, int], expected: str, default: int = IGNORE_INDEX) -> LabelMap:
    table = np.full(256, default, np.int16)
    for raw, index in mapping.items():
        table[raw] = index
    return LabelMap(table, expected)


#: Cityscapes' 34 label ids → its 19 evaluation ("train") ids, every other id ignored, as in
#: cityscapesScripts' ``labels.py``.
CITYSCAPES_TRAIN_IDS = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
    26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip
CITYSCAPES_LABEL_IDS = _label_map(CITYSCAPES_TRAIN_IDS, "Cityscapes label ids")
#: ADE20K's "reduce zero label": 0 ("other") is ignored, label k becomes class k - 1.
ADE20K_LABELS = _label_map(
    {0: IGNORE_INDEX, IGNORE_INDEX: IGNORE_INDEX, **{k: k - 1 for k in range(1, 151)}},
    "ADE20K labels 0–150 (0 = other, ignored)",
    default=-1,
)


class MaskFolder(Dataset):
    """Paired image and mask files: index masks (optionally through a :class:`LabelMap`), or
    colour masks mapped through a palette. Masks come out as ``(H, W)`` uint8, 255 = ignore.

    Raises:
        DataError: A missing mask, an image/mask size mismatch, a label or colour outside the
            classes (each names the file).
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        num_classes: int,
        palette: list[tuple[int, int, int]] | None = None,
        label_map: LabelMap | None = None,
    ) -> None:
        self.pairs, self.num_classes, self.label_map = list(pairs), num_classes, label_map
        # colour packed as 0xRRGGBB -> class index
        self.palette = (
            {r << 16 | g << 8 | b: i for i, (r, g, b) in enumerate(palette)} if palette else None
        )

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[Image.Image, tv_tensors.Mask]:
        image_path, mask_path = self.pairs[index]
        try:
            image = zoo.load_image(image_path)
        except zoo.InvalidImageError as exc:  # its message names the file
            raise DataError(str(exc)) from exc
        try:
            with Image.open(mask_path) as opened:
                raw = _upright_mask(opened, image_path)
                if raw.size != image.size:
                    raise DataError(
                        f"{mask_path} is {raw.size[0]}×{raw.size[1]} but its image "
                        f"{image_path.name} is {image.size[0]}×{image.size[1]}"
                    )
                mask = self._indices(raw, mask_path)
        except (OSError, SyntaxError, ValueError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{mask_path} is not a readable mask image: {exc}") from exc
        return image, tv_tensors.Mask(torch.from_numpy(mask))

    def mask_label_map(self, path: Path) -> LabelMap | None:
        """The label map of the mask file ``path`` (the data set's own, by default)."""
        return self.label_map

    def _indices(self, raw: Image.Image, path: Path) -> np.ndarray:
        if raw.mode in ("RGB", "RGBA") and self.palette is not None:
            rgb = np.asarray(raw.convert("RGB"), dtype=np.int64)  # (H, W, 3)
            keys = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
            mask = np.full(keys.shape, IGNORE_INDEX, np.uint8)
            known = np.zeros(keys.shape, bool)
            for key, index in self.palette.items():
                hit = keys == key
                mask[hit], known[hit] = index, True
            if not known.all():
                bad = np.unique(rgb[~known].reshape(-1, 3), axis=0)[:3].tolist()
                raise DataError(f"{path} has colours that are not in the palette, e.g. {bad}")
            return mask
        if raw.mode not in ("L", "P", "I", "I;16"):
            raise DataError(
                f"{path} is a {raw.mode} image; masks must be single-channel class indices "
                "(or RGB with a palette in classes.json)"
            )
        values = np.asarray(raw)  # (H, W) uint8, uint16 or int32
        label_map = self.mask_label_map(path)
        if label_map is not None:
            return self._mapped(values, label_map, path)
        outside = (values < 0) | ((values >= self.num_classes) & (values != IGNORE_INDEX))
        if outside.any():
            raise DataError(
                f"{path} has labels {np.unique(values[outside])[:5].tolist()} outside the "
                f"{self.num_classes} classes (0–{self.num_classes - 1}, {IGNORE_INDEX} = ignore)"
            )
        return values.astype(np.uint8)

    def _mapped(self, values: np.ndarray, label_map: LabelMap, path: Path) -> np.ndarray:
        table = label_map.table
        outside = (values < 0) | (values >= len(table))
        if not outside.any():
            mapped = table[values]  # (H, W) int16
            outside = (mapped < 0) | ((mapped >= self.num_classes) & (mapped != IGNORE_INDEX))
        if outside.any():
            raise DataError(
                f"{path} has labels {np.unique(values[outside])[:5].tolist()} that are not "
                f"{label_map.expected}"
            )
        return mapped.astype(np.uint8)


#: EXIF orientation → the transpose that shows the stored pixels upright (as PIL's
#: ``ImageOps.exif_transpose``).
_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}  # fmt: skip
_ORIENTATION = 0x0112


def _upright_mask(mask: Image.Image, image_path: Path) -> Image.Image:
    """The mask turned as its image is shown: :func:`zoo.load_image` applies a photo's EXIF
    orientation, and a mask drawn on the pixels as stored (the size of the stored photo) is
    turned the same way. A mask with an orientation of its own follows it; one already upright
    (a quarter turn's shown size, not the stored one) is left as it is. Where the size cannot
    tell the two apart (a half turn, a mirror, a square photo) the mask is taken as stored, and
    a warning says so once."""
    own = _EXIF_TRANSPOSE.get(mask.getexif().get(_ORIENTATION, 1))
    if own is not None:
        return mask.transpose(own)
    try:
        with Image.open(image_path) as image:
            orientation = image.getexif().get(_ORIENTATION, 1)
            stored = image.size
    except OSError:
        return mask
    turn = _EXIF_TRANSPOSE.get(orientation)
    if turn is None or mask.size != stored:
        return mask
    if orientation in (2, 3, 4) or stored[0] == stored[1]:
        warnings.warn(
            "Photos whose EXIF orientation keeps their size (a half turn, a mirror, a square "
            "photo) get their masks turned with them, as masks drawn on the stored pixels "
            "need; if your tool drew them upright, remove the photos' EXIF orientation "
            "(e.g. exiftool -Orientation= ...).",  # one text: Python shows it once
            stacklevel=2,
        )
    return mask.transpose(turn)


class CityscapesFolder(MaskFolder):
    """Cityscapes pairs whose masks are ``*_gtFine_labelTrainIds.png`` (class indices 0–18,
    255 ignore) or ``*_gtFine_labelIds.png`` (the 34 label ids, mapped to the 19 classes)."""

    def mask_label_map(self, path: Path) -> LabelMap | None:
        return CITYSCAPES_LABEL_IDS if path.name.endswith("_labelIds.png") else None


def _empty(num_classes: int) -> MaskFolder:
    """A split that was not asked for."""
    return MaskFolder([], num_classes)


def _require_dir(kind: str, path: Path, layout: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{kind}: no directory {path} (expected {layout})")
    return path


def _voc_dir(root: Path) -> Path:
    """``root`` itself when it is a ``VOC20xx`` directory, else the newest ``VOC20xx`` in
    ``root/VOCdevkit`` or ``root`` (a ``VOCdevkit``)."""
    if (root / "ImageSets").is_dir() or (root / "JPEGImages").is_dir():
        return root
    devkit = root / "VOCdevkit" if (root / "VOCdevkit").is_dir() else root
    years = sorted(p for p in devkit.glob("VOC20[0-9][0-9]") if p.is_dir())
    if not years:
        raise DataError(
            f"voc: no VOCdevkit/VOC20xx directory at {root} (expected VOCdevkit/VOC2012/"
            "{JPEGImages,SegmentationClass,ImageSets/Segmentation})"
        )
    return years[-1]


def _read_list(path: Path) -> list[str]:
    """Image names, one a line (``2007_000032``, or ``/JPEGImages/2007_000032.jpg ...`` as
    some SBD lists write them)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [Path(line.split()[0]).stem for line in lines if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"voc: cannot read the image list {path}: {exc}") from exc


def _voc_train_names(base: Path) -> tuple[list[str], bool]:
    """The training image names: ``train.txt``, joined by the SBD-augmented list
    (``trainaug.txt`` or mmsegmentation's ``aug.txt``) when ``SegmentationClassAug/`` exists;
    validation images are never trained on. Returns ``(names, augmented)``."""
    lists = base / "ImageSets" / "Segmentation"
    augmented = next(
        (lists / n for n in ("trainaug.txt", "aug.txt") if (lists / n).is_file()), None
    )
    if augmented is None or not (base / "SegmentationClassAug").is_dir():
        return _read_list(_voc_list(lists, "train")), False
    names = _read_list(lists / "train.txt") if (lists / "train.txt").is_file() else []
    names += _read_list(augmented)
    val = set(_read_list(lists / "val.txt")) if (lists / "val.txt").is_file() else set()
    return [n for n in dict.fromkeys(names) if n not in val], True


def _voc_list(lists: Path, split: str) -> Path:
    path = lists / f"{split}.txt"
    if not path.is_file():
        raise DataError(f"voc: no {path} (ImageSets/Segmentation/{{train,val}}.txt list the split)")
    return path


def _voc_pairs(base: Path, names: list[str], augmented: bool) -> list[tuple[Path, Path]]:
    """Image and mask of each name; with SBD, a mask in ``SegmentationClassAug/`` is used
    where ``SegmentationClass/`` has none."""
    folders = ["SegmentationClass", "SegmentationClassAug"] if augmented else ["SegmentationClass"]
    pairs = []
    for name in names:
        image = base / "JPEGImages" / f"{name}.jpg"
        if not image.is_file():
            raise DataError(f"voc: {image} is listed but missing")
        mask = next(
            (base / f / f"{name}.png" for f in folders if (base / f / f"{name}.png").is_file()),
            None,
        )
        if mask is None:
            raise DataError(f"voc: {image.name} has no mask {base / folders[0] / name}.png")
        pairs.append((image, mask))
    return pairs


def voc(root: Path, splits: Sequence[str] = SPLITS) -> DataSplits:
    """PASCAL VOC: ``VOCdevkit/VOC2012/{JPEGImages,SegmentationClass}`` with the image lists
    ``ImageSets/Segmentation/{train,val}.txt``; masks are palette PNGs (index = class, 255 =
    the void border). With the SBD augmentation (``SegmentationClassAug/`` and
    ``ImageSets/Segmentation/trainaug.txt`` or ``aug.txt``) the training split is the 10,582
    "train_aug" images; validation is always ``val.txt`` (VOC 2012 val, 1,449 images)."""
    base = _voc_dir(root)
    voc_info = zoo.dataset_info("voc")
    count = len(voc_info.labels)
    train: MaskFolder = _empty(count)
    val: MaskFolder = _empty(count)
    augmented = False
    if "train" in splits:
        names, augmented = _voc_train_names(base)
        train = MaskFolder(_voc_pairs(base, names, augmented), count)
    if "val" in splits:
        names = _read_list(_voc_list(base / "ImageSets" / "Segmentation", "val"))
        val = MaskFolder(_voc_pairs(base, names, False), count)
    name = "voc12aug" if augmented else base.name.lower()
    return DataSplits(name, "segmentation", train, val, list(voc_info.labels),
                      list(voc_info.palette))  # fmt: skip


CITYSCAPES_LAYOUT = "DIR/leftImg8bit/{train,val}/<city>/<id>_leftImg8bit.png"


def _cityscapes_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    images_dir = _require_dir("cityscapes", root / "leftImg8bit" / split, CITYSCAPES_LAYOUT)
    labels_layout = "DIR/gtFine/{train,val}/<city>/<id>_gtFine_labelTrainIds.png"
    labels_dir = _require_dir("cityscapes", root / "gtFine" / split, labels_layout)
    pairs = []
    for image in sorted(images_dir.glob("*/*_leftImg8bit.png")):
        stem = labels_dir / image.parent.name / image.name.removesuffix("_leftImg8bit.png")
        candidates = [Path(f"{stem}_gtFine_labelTrainIds.png"), Path(f"{stem}_gtFine_labelIds.png")]
        mask = next((c for c in candidates if c.is_file()), None)
        if mask is None:
            raise DataError(f"{image} has no label: expected {candidates[0]} (or _labelIds.png)")
        pairs.append((image, mask))
    if not pairs:
        raise DataError(f"cityscapes: no <city>/*_leftImg8bit.png images in {images_dir}")
    return pairs


def cityscapes(root: Path, splits: Sequence[str] = SPLITS) -> DataSplits:
    """Cityscapes fine annotations: ``leftImg8bit/{train,val}/<city>/<id>_leftImg8bit.png``
    with ``gtFine/{split}/<city>/<id>_gtFine_labelTrainIds.png`` (the 19 classes, 255 ignore)
    or, where those were not generated, ``<id>_gtFine_labelIds.png`` (mapped to the 19
    classes on loading)."""
    info = zoo.dataset_info("cityscapes")
    count = len(info.labels)
    parts = [CityscapesFolder(_cityscapes_pairs(root, s), count) if s in splits else _empty(count)
             for s in SPLITS]  # fmt: skip
    return DataSplits("cityscapes", "segmentation", parts[0], parts[1], list(info.labels),
                      list(info.palette))  # fmt: skip


ADE20K_FOLDERS = {"train": "training", "val": "validation"}


def _ade20k_pairs(base: Path, split: str) -> list[tuple[Path, Path]]:
    folder = ADE20K_FOLDERS[split]
    layout = "DIR/{images,annotations}/{training,validation}"
    images_dir = _require_dir("ade20k", base / "images" / folder, layout)
    masks_dir = _require_dir("ade20k", base / "annotations" / folder, layout)
    masks_by_stem = {p.stem: p for p in masks_dir.glob("*.png")}
    pairs = []
    for image in sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        mask = masks_by_stem.get(image.stem)
        if mask is None:
            raise DataError(f"{image} has no annotation {masks_dir / image.stem}.png")
        pairs.append((image, mask))
    if not pairs:
        raise DataError(f"ade20k: no images in {images_dir}")
    return pairs


def ade20k(root: Path, splits: Sequence[str] = SPLITS) -> DataSplits:
    """ADE20K's SceneParsing release (``ADEChallengeData2016``):
    ``images/{training,validation}/*.jpg`` with ``annotations/{training,validation}/*.png``.
    Annotations hold 0 ("other") and the 150 classes as 1–150; like mmsegmentation's
    ``reduce_zero_label``, 0 is ignored and label k is class k - 1."""
    base = root / "ADEChallengeData2016" if (root / "ADEChallengeData2016").is_dir() else root
    info = zoo.dataset_info("ade20k")
    count = len(info.labels)
    parts = [MaskFolder(_ade20k_pairs(base, s), count, label_map=ADE20K_LABELS)
             if s in splits else _empty(count) for s in SPLITS]  # fmt: skip
    return DataSplits("ade20k", "segmentation", parts[0], parts[1], list(info.labels),
                      list(info.palette))  # fmt: skip


def _pairs(directory: Path) -> list[tuple[Path, Path]]:
    images_dir, masks_dir = directory / "images", directory / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise DataError(f"masks: expected {images_dir} and {masks_dir} (layouts: {MASKS_LAYOUT})")
    masks_by_stem = {p.stem: p for p in masks_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    pairs = []
    for image in sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        mask = masks_by_stem.get(image.stem) or masks_by_stem.get(f"{image.stem}_mask")
        if mask is None:
            raise DataError(f"{image} has no mask in {masks_dir} (expected {image.stem}.png)")
        pairs.append((image, mask))
    if not pairs:
        raise DataError(f"masks: no images in {images_dir}")
    return pairs


def _classes_file(root: Path, num_classes: int | None) -> tuple[list[str], Any]:
    path = root / "classes.json"
    if path.is_file():
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(spec["classes"], list):
                raise TypeError("classes must be a list")
            names = [str(n) for n in spec["classes"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(
                f'{path}: expected {{"classes": [...], "palette": [[r, g, b], ...]}}'
            ) from exc
        palette = spec.get("palette")
        if palette is not None and not all(
            isinstance(c, list)
            and len(c) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in c)
            for c in palette
        ):
            raise DataError(f"{path}: palette entries must be [r, g, b] with integers 0–255")
        if palette is not None and len(palette) != len(names):
            raise DataError(f"{path}: {len(names)} classes but {len(palette)} palette colours")
        return names, palette
    if num_classes is None:
        raise DataError(f"masks: {root} has no classes.json; pass --num-classes")
    return [f"class_{i}" for i in range(num_classes)], None


MASKS_LAYOUT = (
    "root/train/{images,masks} and root/val/{images,masks} (a split per folder), or "
    "root/{images,masks} (split 90/10 at random by --seed)"
)


def masks(
    root: Path, seed: int = 0, num_classes: int | None = None, splits: Sequence[str] = SPLITS
) -> DataSplits:
    """``root/{images,masks}`` split 90/10, or ``root/{train,val}/{images,masks}``; class names
    (and a palette for colour masks) from ``root/classes.json``. With split folders, only the
    ``splits`` asked for must exist (validation needs ``val/`` alone).

    Raises:
        DataError: A split folder that is asked for is missing (the message gives the layouts).
    """
    names, palette = _classes_file(root, num_classes)

    def make(pairs: Sequence[tuple[Path, Path]]) -> MaskFolder:
        return MaskFolder(pairs, len(names), palette)

    present = [split for split in SPLITS if (root / split).is_dir()]
    if present:
        missing = [split for split in splits if split not in present]
        if missing:
            raise DataError(
                f"masks: {root} has {' and '.join(f'{p}/' for p in present)} but no "
                f"{' or '.join(f'{m}/' for m in missing)}; expected {MASKS_LAYOUT}"
            )
        train, val = (make(_pairs(root / split)) if split in splits else _empty(len(names))
                      for split in SPLITS)  # fmt: skip
    else:
        pairs = _pairs(root)
        train_idx, val_idx = _split(len(pairs), seed, 0.1)
        train, val = make([pairs[i] for i in train_idx]), make([pairs[i] for i in val_idx])
    colours = [(int(c[0]), int(c[1]), int(c[2])) for c in palette] if palette else None
    return DataSplits(f"masks:{root.name}", "segmentation", train, val, names, colours)
