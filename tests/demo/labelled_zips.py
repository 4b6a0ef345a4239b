"""Small labelled zips for the Evaluate tab's tests, made from the installed example photos."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

#: The person photos and a rough person box on each (x0, y0, x1, y1 as fractions).
PERSON_BOXES = {
    "astronaut.png": (0.15, 0.1, 0.85, 1.0),
    "grace_hopper.jpg": (0.1, 0.05, 0.9, 1.0),
    "coffee.png": None,  # no person
}


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(path: Path, size: tuple[int, int] | None = None) -> tuple[bytes, tuple[int, int]]:
    image = Image.open(path).convert("RGB")
    if size:
        image = image.resize(size)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue(), image.size


def person_mask(size: tuple[int, int], box: tuple[float, float, float, float] | None) -> np.ndarray:
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    if box:
        x0, y0, x1, y1 = box
        mask[int(y0 * height) : int(y1 * height), int(x0 * width) : int(x1 * width)] = 1
    return mask


def person_zip(path: Path, photos: dict[str, Path], classes: bool = True, root: str = "") -> Path:
    """``images/`` + ``masks/`` (background 0, person 1) and a ``classes.json``."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, box in PERSON_BOXES.items():
            data, size = jpeg(photos[name], (320, 240))
            stem = Path(name).stem
            archive.writestr(f"{root}images/{stem}.jpg", data)
            archive.writestr(f"{root}masks/{stem}.png", png(person_mask(size, box)))
        if classes:
            archive.writestr(
                f"{root}classes.json", json.dumps({"classes": ["background", "person"]})
            )
    return path


def class_zip(path: Path, photos: dict[str, Path]) -> Path:
    """One folder per class: cat, coffee, person."""
    with zipfile.ZipFile(path, "w") as archive:
        for folder, name in (("cat", "chelsea_cat.png"), ("coffee", "coffee.png"),
                             ("person", "astronaut.png")):  # fmt: skip
            archive.writestr(f"{folder}/{Path(name).stem}.jpg", jpeg(photos[name], (256, 256))[0])
    return path


def zip_of(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def zip_bomb(path: Path, megabytes: int) -> Path:
    """A zip whose one member inflates ``megabytes`` MB of zeros (a few hundred KB packed)."""
    chunk = bytes(1_000_000)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("images/bomb.png", "w", force_zip64=True) as member,
    ):
        for _ in range(megabytes):
            member.write(chunk)
    return path
