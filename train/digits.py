"""scikit-learn's 1,797 real 8×8 handwritten digits, the built-in ``digits`` and
``digits-hard`` formats: the digits themselves (classification) and canvases of them whose
ink is labelled with its digit (segmentation). Generated in memory; nothing is read from disk
but scikit-learn's copy of the digits.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from .data import DataSplits, split_indices

#: Digit-canvas pixels at least this bright are ink (labelled with their digit).
INK = 64


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
    train_idx, val_idx = split_indices(len(labels), seed, 0.2)
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
