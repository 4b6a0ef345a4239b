"""Example photos for the demo, written from installed packages (never committed)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import zoo

_FORMATS = {".png": "PNG", ".jpg": "JPEG"}


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return np.asarray(getattr(data, name)())

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(name))

    return load


def _matplotlib(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from matplotlib.cbook import get_sample_data

        handle: Any = get_sample_data(name, asfileobj=True)  # a file object when asfileobj
        with handle:
            return np.asarray(Image.open(handle).convert("RGB"))

    return load


#: file name -> (loader, credit). Credits follow each package's documentation.
PHOTOS: dict[str, tuple[Callable[[], np.ndarray], str]] = {
    "chelsea_cat.png": (_skimage("chelsea"), "scikit-image data: Chelsea the cat (public domain)"),
    "coffee.png": (_skimage("coffee"), "scikit-image data: coffee cup, Rachel Michetti (CC0)"),
    "china.jpg": (_sklearn("china.jpg"), "scikit-learn sample image (CC BY 2.0)"),
    "flower.jpg": (_sklearn("flower.jpg"), "scikit-learn sample image (CC BY 2.0)"),
    "grace_hopper.jpg": (_matplotlib("grace_hopper.jpg"), "matplotlib sample data (public domain)"),
    "astronaut.png": (
        _skimage("astronaut"),
        "scikit-image data: Eileen Collins, NASA (public domain)",
    ),
}


def example_photos(directory: str | Path | None = None) -> list[Path]:
    """Write the example photos that the installed packages provide; skip missing packages.

    Args:
        directory: Where to write them (default: a ``vision-zoo-examples`` folder in the temp dir).

    Returns:
        Paths of the photos written (or already present), in :data:`PHOTOS` order.
    """
    target = Path(directory) if directory else Path(tempfile.gettempdir()) / "vision-zoo-examples"
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (load, _credit) in PHOTOS.items():
        path = target / name
        if not path.is_file():
            try:
                pixels = load()
            except (ImportError, OSError, AttributeError):
                continue
            with zoo.atomic_write(path) as file:  # quality applies to JPEG only
                Image.fromarray(pixels).save(file, format=_FORMATS[path.suffix], quality=92)
        paths.append(path)
    return paths
