"""Data sets for training: the formats users have on disk, and scikit-learn's real digits.

Every data set yields ``(image, target)``: a ``tv_tensors.Image`` / PIL image and an ``int``
class (classification) or a ``tv_tensors.Mask`` of class indices, 255 = ignore (segmentation).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
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
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
FORMATS = ("imagefolder", "cifar10", "voc", "masks", "digits")


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
    ("cifar10", "classification"): Augment(hflip=0.5, scale=(0.6, 1.0)),
    ("imagefolder", "classification"): Augment(hflip=0.5, scale=(0.08, 1.0)),
    ("voc", "segmentation"): Augment(hflip=0.5, scale=(0.5, 2.0)),
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


def parse_spec(spec: str) -> tuple[str, str]:
    """``"masks:path/to/data"`` → ``("masks", "path/to/data")``; ``"digits"`` → ``("digits", "")``.

    Raises:
        DataError: Unknown format.
    """
    kind, _, path = spec.partition(":")
    if kind not in FORMATS:
        raise DataError(f"Unknown data format {kind!r} in {spec!r}; use one of {FORMATS}")
    if kind != "digits" and not path:
        raise DataError(f"{kind}: needs a path, e.g. {kind}:path/to/dataset")
    return kind, path


def build_data(spec: str, task: str, seed: int = 0, num_classes: int | None = None) -> DataSplits:
    """Open the data set ``spec`` for ``task`` ("classification" or "segmentation").

    Raises:
        DataError: Wrong format for the task, missing directories or files, bad labels.
    """
    kind, path = parse_spec(spec)
    root = Path(path).expanduser()
    if kind != "digits" and not root.exists():
        raise DataError(f"{kind}: no such directory {root}")
    wanted = {
        "imagefolder": "classification",
        "cifar10": "classification",
        "voc": "segmentation",
        "masks": "segmentation",
    }.get(kind, task)
    if wanted != task:
        raise DataError(f"{kind}: is a {wanted} data set, but the model does {task}")
    if kind == "digits":
        splits = digits(task, seed)
    elif kind == "imagefolder":
        splits = image_folder(root, seed)
    elif kind == "cifar10":
        splits = cifar10(root)
    elif kind == "voc":
        splits = voc(root)
    else:
        splits = masks(root, seed, num_classes)
    splits.augment = AUGMENT_DEFAULTS[kind, task]
    _check_splits(splits, spec, num_classes)
    return splits


def _check_splits(splits: DataSplits, spec: str, num_classes: int | None) -> None:
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
    for part, dataset in (("training", splits.train), ("validation", splits.val)):
        if len(dataset) == 0:  # type: ignore[arg-type]
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
        mask = np.zeros((self.size, self.size), np.int64)
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
                mask[y : y + glyph, x : x + glyph][ink >= 64] = self.labels[pick] + 1
        image = torch.from_numpy(canvas).expand(3, -1, -1).clone()  # (3, S, S)
        return tv_tensors.Image(image), tv_tensors.Mask(torch.from_numpy(mask))


def digits(task: str, seed: int = 0) -> DataSplits:
    """The digits split 80/20 (fixed by ``seed``); as canvases for segmentation."""
    images, labels = _digits_arrays()
    train_idx, val_idx = _split(len(labels), seed, 0.2)
    train: Dataset
    val: Dataset
    if task == "classification":
        train = DigitsClassification(images[train_idx], labels[train_idx])
        val = DigitsClassification(images[val_idx], labels[val_idx])
        return DataSplits("digits", task, train, val, [str(d) for d in range(10)])
    train = DigitsCanvas(images[train_idx], labels[train_idx], count=800, seed=seed)
    val = DigitsCanvas(images[val_idx], labels[val_idx], count=200, seed=seed + 1)
    return DataSplits(
        "digits-canvas", task, train, val, ["background"] + [str(d) for d in range(10)]
    )


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
def voc(root: Path) -> DataSplits:
    """PASCAL VOC (``VOCdevkit/VOC2012`` with ``ImageSets/Segmentation/{train,val}.txt``)."""
    from torchvision.datasets import VOCSegmentation

    candidates = [root / "VOCdevkit", root, root.parent] if root.name != "VOCdevkit" else [root]
    devkit = next((c for c in candidates if c.name == "VOCdevkit" and c.is_dir()), None)
    if devkit is None:
        raise DataError(f"voc: no VOCdevkit directory at or above {root}")
    years = sorted(p.name[3:] for p in devkit.glob("VOC20*") if p.is_dir())
    if not years:
        raise DataError(f"voc: no VOC20xx directory in {devkit}")
    voc_info = zoo.dataset_info("voc")
    splits = []
    for split in ("train", "val"):
        try:
            found = VOCSegmentation(str(devkit.parent), year=years[-1], image_set=split,
                                    download=False)  # fmt: skip
        except (RuntimeError, ValueError, FileNotFoundError) as exc:
            raise DataError(f"voc: {devkit}/VOC{years[-1]}: {exc}") from exc
        pairs = [(Path(i), Path(m)) for i, m in zip(found.images, found.masks, strict=True)]
        splits.append(MaskFolder(pairs, len(voc_info.labels), None))  # checks every pair
    return DataSplits(f"voc{years[-1]}", "segmentation", splits[0], splits[1],
                      list(voc_info.labels), list(voc_info.palette))  # fmt: skip


class MaskFolder(Dataset):
    """Paired ``images/NAME.*`` and ``masks/NAME.png``: index masks, or colour masks mapped
    through a palette.

    Raises:
        DataError: A missing mask, an image/mask size mismatch, a label or colour outside the
            classes (each names the file).
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        num_classes: int,
        palette: list[tuple[int, int, int]] | None,
    ) -> None:
        self.pairs, self.num_classes = list(pairs), num_classes
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
        except zoo.InvalidImageError as exc:
            raise DataError(f"{image_path}: {exc}") from exc
        try:
            with Image.open(mask_path) as raw:
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

    def _indices(self, raw: Image.Image, path: Path) -> np.ndarray:
        if raw.mode in ("RGB", "RGBA") and self.palette is not None:
            rgb = np.asarray(raw.convert("RGB"), dtype=np.int64)  # (H, W, 3)
            keys = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
            mask = np.full(keys.shape, -1, np.int64)
            for key, index in self.palette.items():
                mask[keys == key] = index
            if (mask < 0).any():
                bad = np.unique(rgb[mask < 0].reshape(-1, 3), axis=0)[:3].tolist()
                raise DataError(f"{path} has colours that are not in the palette, e.g. {bad}")
            return mask
        if raw.mode not in ("L", "P", "I", "I;16"):
            raise DataError(
                f"{path} is a {raw.mode} image; masks must be single-channel class indices "
                "(or RGB with a palette in classes.json)"
            )
        mask = np.asarray(raw, dtype=np.int64).copy()
        bad = np.unique(mask[(mask >= self.num_classes) & (mask != IGNORE_INDEX)])
        if bad.size:
            raise DataError(
                f"{path} has labels {bad[:5].tolist()} outside the {self.num_classes} classes "
                f"(0–{self.num_classes - 1}, {IGNORE_INDEX} = ignore)"
            )
        return mask


def _pairs(directory: Path) -> list[tuple[Path, Path]]:
    images_dir, masks_dir = directory / "images", directory / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise DataError(f"masks: expected {images_dir} and {masks_dir}")
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
        if num_classes is not None and num_classes != len(names):
            raise DataError(
                f"--num-classes {num_classes} disagrees with the {len(names)} classes in {path}; "
                "drop --num-classes or fix classes.json"
            )
        return names, palette
    if num_classes is None:
        raise DataError(f"masks: {root} has no classes.json; pass --num-classes")
    return [f"class_{i}" for i in range(num_classes)], None


def masks(root: Path, seed: int = 0, num_classes: int | None = None) -> DataSplits:
    """``root/{images,masks}`` split 90/10, or ``root/{train,val}/{images,masks}``; class names
    (and a palette for colour masks) from ``root/classes.json``."""
    names, palette = _classes_file(root, num_classes)

    def make(pairs: Sequence[tuple[Path, Path]]) -> MaskFolder:
        return MaskFolder(pairs, len(names), palette)

    if (root / "train").is_dir() and (root / "val").is_dir():
        train, val = make(_pairs(root / "train")), make(_pairs(root / "val"))
    else:
        pairs = _pairs(root)
        train_idx, val_idx = _split(len(pairs), seed, 0.1)
        train, val = make([pairs[i] for i in train_idx]), make([pairs[i] for i in val_idx])
    colours = [(int(c[0]), int(c[1]), int(c[2])) for c in palette] if palette else None
    return DataSplits(f"masks:{root.name}", "segmentation", train, val, names, colours)
