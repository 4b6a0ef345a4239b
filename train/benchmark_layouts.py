"""The benchmark data sets in the layouts their releases use: PASCAL VOC (with the SBD
augmentation), Cityscapes fine annotations and ADE20K SceneParsing, each read as
:class:`~train.masks.MaskFolder` pairs with the labels and palette zoo knows for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

import zoo

from .data import IGNORE_INDEX, IMAGE_SUFFIXES, SPLITS, DataError, DataSplits
from .masks import LabelMap, MaskFolder, empty_split


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


class CityscapesFolder(MaskFolder):
    """Cityscapes pairs whose masks are ``*_gtFine_labelTrainIds.png`` (class indices 0–18,
    255 ignore) or ``*_gtFine_labelIds.png`` (the 34 label ids, mapped to the 19 classes)."""

    def mask_label_map(self, path: Path) -> LabelMap | None:
        return CITYSCAPES_LABEL_IDS if path.name.endswith("_labelIds.png") else None


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
    train: MaskFolder = empty_split(count)
    val: MaskFolder = empty_split(count)
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
    parts = [CityscapesFolder(_cityscapes_pairs(root, s), count) if s in splits
             else empty_split(count) for s in SPLITS]  # fmt: skip
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
             if s in splits else empty_split(count) for s in SPLITS]  # fmt: skip
    return DataSplits("ade20k", "segmentation", parts[0], parts[1], list(info.labels),
                      list(info.palette))  # fmt: skip
