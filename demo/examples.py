"""Example photos and an example clip for the demo, written from installed packages (never
committed)."""

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


#: The example clip: file name, length (s), frame rate, frame size (width, height), credit.
CLIP_NAME = "astronaut_pan.mp4"
CLIP_SECONDS = 4
CLIP_FPS = 12
CLIP_SIZE = (480, 360)
CLIP_CREDIT = "made from scikit-image's astronaut photo (Eileen Collins, NASA; public domain)"


def example_clip(directory: str | Path | None = None) -> Path | None:
    """Write the example clip once: a slow pan and zoom over scikit-image's astronaut photo,
    :data:`CLIP_SECONDS` s at :data:`CLIP_FPS` fps, :data:`CLIP_SIZE`, H.264 in MP4 (browser
    playable). Written atomically, so a half-written clip never appears under its name.

    Args:
        directory: Where to write it (default: the example photos' folder in the temp dir).

    Returns:
        The clip's path, or None when scikit-image or PyAV is not installed.
    """
    path = _examples_dir(directory) / CLIP_NAME
    if path.is_file():
        return path
    try:
        import av
        from skimage import data

        photo = Image.fromarray(np.asarray(data.astronaut())).convert("RGB")
    except (ImportError, OSError):
        return None
    # Encoded into zoo's locked temporary (faststart reopens the file by name), then renamed
    # over the final name: a half-written clip never appears, and a killed writer's is cleaned.
    with zoo.Temporary(path) as temporary:
        _encode(str(temporary.path), _pan_and_zoom(photo, CLIP_SECONDS * CLIP_FPS, CLIP_SIZE), av)
        temporary.commit(fsync=True)
    return path


def _pan_and_zoom(photo: Image.Image, frames: int, size: tuple[int, int]) -> list[np.ndarray]:
    """``frames`` RGB ``(H, W, 3)`` frames of ``size`` = (W, H): a window of the frame's aspect
    ratio that zooms in from the whole width to 1/1.4 of it while panning right and
    slightly down (sub-pixel steps, so the motion is smooth)."""
    aspect = size[1] / size[0]
    out = []
    for index in range(frames):
        t = index / max(frames - 1, 1)
        width = photo.width / (1.0 + 0.4 * t)
        height = min(width * aspect, photo.height)
        left = (photo.width - width) * 0.35 * t
        top = (photo.height - height) * 0.3 * t
        box = (left, top, left + width, top + height)
        out.append(np.asarray(photo.resize(size, Image.Resampling.BILINEAR, box=box)))
    return out


def _encode(path: str, frames: list[np.ndarray], av: Any) -> None:
    """Write RGB frames as H.264 (``yuv420p``, ``faststart``) in MP4 at :data:`CLIP_FPS`."""
    height, width = frames[0].shape[:2]
    with av.open(path, "w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=CLIP_FPS)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
