"""Tiny data sets written in the benchmark layouts (Cityscapes, ADE20K, PASCAL VOC)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import zoo


def _photo(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def cityscapes_frame(
    root: Path,
    split: str,
    city: str,
    index: int,
    label: np.ndarray,
    kind: str = "labelTrainIds",
    colour: tuple[int, int, int] | None = None,
) -> Path:
    """Write ``leftImg8bit/{split}/{city}/{city}_000000_{index:06d}_leftImg8bit.png`` (noise,
    or one ``colour``) and its ``gtFine`` label (``kind``: ``labelTrainIds`` or ``labelIds``)
    of ``label (H, W)``."""
    stem = f"{city}_000000_{index:06d}"
    image = root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"
    mask = root / "gtFine" / split / city / f"{stem}_gtFine_{kind}.png"
    for path in (image, mask):
        path.parent.mkdir(parents=True, exist_ok=True)
    if colour is None:
        Image.fromarray(_photo(*label.shape, seed=index)).save(image)
    else:
        Image.new("RGB", label.shape[::-1], colour).save(image)
    Image.fromarray(label.astype(np.uint8)).save(mask)
    # the other files a gtFine release holds, which must be left alone
    Image.new("RGB", label.shape[::-1]).save(mask.parent / f"{stem}_gtFine_color.png")
    return image


def ade20k_image(root: Path, folder: str, name: str, annotation: np.ndarray) -> Path:
    """Write ``ADEChallengeData2016/images/{folder}/{name}.jpg`` and its annotation."""
    base = root / "ADEChallengeData2016"
    image = base / "images" / folder / f"{name}.jpg"
    mask = base / "annotations" / folder / f"{name}.png"
    for path in (image, mask):
        path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_photo(*annotation.shape, seed=len(name))).save(image, quality=95)
    Image.fromarray(annotation.astype(np.uint8)).save(mask)
    return image


def voc_palette_png(indices: np.ndarray, path: Path) -> None:
    """A VOC-style palette ("P") PNG of class indices."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.frombytes("P", indices.shape[::-1], indices.astype(np.uint8).tobytes())
    image.putpalette([v for rgb in zoo.datasets.voc_palette(256) for v in rgb])
    image.save(path)


def voc_image(voc: Path, name: str, indices: np.ndarray, folder: str = "SegmentationClass") -> None:
    """``JPEGImages/{name}.jpg`` and ``{folder}/{name}.png``."""
    (voc / "JPEGImages").mkdir(parents=True, exist_ok=True)
    Image.fromarray(_photo(*indices.shape, seed=len(name))).save(voc / "JPEGImages" / f"{name}.jpg")
    if folder == "SegmentationClass":
        voc_palette_png(indices, voc / folder / f"{name}.png")
    else:  # SBD masks converted for mmsegmentation are plain 8-bit PNGs
        (voc / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(indices.astype(np.uint8)).save(voc / folder / f"{name}.png")


def image_list(voc: Path, split: str, names: list[str]) -> None:
    lists = voc / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
