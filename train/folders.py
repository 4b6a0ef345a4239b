"""Classification data sets on disk: class folders (``imagefolder``) and the CIFAR-10
python batches (``cifar10``)."""

from __future__ import annotations

import pickle
from pathlib import Path

from torch.utils.data import Subset

import zoo

from .data import DataError, DataSplits, split_indices


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
    train_idx, val_idx = split_indices(len(full), seed, 0.1)
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
