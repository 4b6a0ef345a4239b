"""Segmentation data sets of paired image and mask files, and the ``masks`` format.

:class:`MaskFolder` reads a pair (index masks, through a :class:`LabelMap` where a format
stores other values, or colour masks through a palette), turned upright as its image is;
:func:`masks` opens a user's ``images/`` + ``masks/`` folders. The benchmark layouts built on
:class:`MaskFolder` are in :mod:`train.benchmark_layouts`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors

import zoo

from .data import IGNORE_INDEX, IMAGE_SUFFIXES, SPLITS, DataError, DataSplits, split_indices


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


def empty_split(num_classes: int) -> MaskFolder:
    """A split that was not asked for."""
    return MaskFolder([], num_classes)


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
        train, val = (make(_pairs(root / split)) if split in splits else empty_split(len(names))
                      for split in SPLITS)  # fmt: skip
    else:
        pairs = _pairs(root)
        train_idx, val_idx = split_indices(len(pairs), seed, 0.1)
        train, val = make([pairs[i] for i in train_idx]), make([pairs[i] for i in val_idx])
    colours = [(int(c[0]), int(c[1]), int(c[2])) for c in palette] if palette else None
    return DataSplits(f"masks:{root.name}", "segmentation", train, val, names, colours)
