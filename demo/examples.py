"""Example photos and an example clip for the demo, written from installed packages (never
committed; the photos' sources are :data:`zoo.examples.PHOTOS`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import zoo
from zoo.examples import CLIP_FPS, CLIP_SECONDS, CLIP_SIZE, PHOTOS
from zoo.examples import example_clip as write_clip

_FORMATS = {".png": "PNG", ".jpg": "JPEG"}


def _examples_dir(directory: str | Path | None) -> Path:
    target = Path(directory) if directory else Path(tempfile.gettempdir()) / "vision-zoo-examples"
    target.mkdir(parents=True, exist_ok=True)
    return target


def example_photos(directory: str | Path | None = None) -> list[Path]:
    """Write the example photos that the installed packages provide; skip missing packages.

    Args:
        directory: Where to write them (default: a ``vision-zoo-examples`` folder in the temp dir).

    Returns:
        Paths of the photos written (or already present), in :data:`PHOTOS` order.
    """
    target = _examples_dir(directory)
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


#: The example clip: file name and credit; its length, frame rate and size are the library's
#: (:mod:`zoo.examples`, which writes it).
CLIP_NAME = "astronaut_pan.mp4"
CLIP_CREDIT = "made from scikit-image's astronaut photo (Eileen Collins, NASA; public domain)"


def example_clip(directory: str | Path | None = None) -> Path | None:
    """Write the example clip once: :func:`zoo.examples.example_clip` over scikit-image's
    astronaut photo, :data:`CLIP_SECONDS` s at :data:`CLIP_FPS` fps, :data:`CLIP_SIZE`, H.264
    in MP4 (browser playable), written atomically.

    Args:
        directory: Where to write it (default: the example photos' folder in the temp dir).

    Returns:
        The clip's path, or None when scikit-image or PyAV is not installed.
    """
    path = _examples_dir(directory) / CLIP_NAME
    if path.is_file():
        return path
    try:
        from skimage import data

        photo = np.asarray(data.astronaut())
    except (ImportError, OSError):
        return None
    try:
        write_clip(photo, path, seconds=CLIP_SECONDS, fps=CLIP_FPS, size=CLIP_SIZE)
    except zoo.MissingExtraError:  # no PyAV
        return None
    except FileExistsError:  # another process wrote it meanwhile
        pass
    return path
