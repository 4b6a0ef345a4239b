"""Example photos from installed packages, and a short example video made from a photo, for
trying :func:`zoo.segment_video` without a video of your own::

    from zoo.examples import example_clip, example_images

    photos = example_images()  # [(name, (H, W, 3) uint8 array), ...]
    clip = example_clip("photo.jpg", "pan.mp4")  # 4 s at 12 fps, 480×360, H.264 in MP4

The photos come from scikit-image, scikit-learn and matplotlib's sample data (those
installed; the ``demo`` extra installs all three); the clip needs PyAV
(``pip install 'vision-zoo[video]'``). Imported from here, not from the top-level ``zoo``
namespace.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .atomic import Temporary
from .errors import ConfigError, require
from .images import ImageSource, load_image


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


def example_images() -> list[tuple[str, np.ndarray]]:
    """The example photos of :data:`PHOTOS` that the installed packages provide.

    Returns:
        ``(file name, (H, W, 3) uint8 RGB array)`` pairs in :data:`PHOTOS` order; empty when
        none of scikit-image, scikit-learn and matplotlib is installed.
    """
    found = []
    for name, (load, _credit) in PHOTOS.items():
        try:
            found.append((name, load()))
        except (ImportError, OSError, AttributeError):
            continue
    return found


#: The default clip: length (s), frame rate (frames per second), frame size (width, height).
CLIP_SECONDS = 4
CLIP_FPS = 12
CLIP_SIZE = (480, 360)


def example_clip(
    photo: ImageSource,
    dst: str | os.PathLike[str],
    *,
    seconds: float = CLIP_SECONDS,
    fps: int = CLIP_FPS,
    size: tuple[int, int] = CLIP_SIZE,
    overwrite: bool = False,
) -> Path:
    """Write a slow pan and zoom over a photo as a browser-playable H.264 MP4.

    The window keeps the frame's aspect ratio, zooms in from the photo's whole width to 1/1.4
    of it while panning right and slightly down, in sub-pixel steps (smooth motion). The clip
    is written under a temporary name and renamed into place, so a half-written clip never
    appears under ``dst``.

    Args:
        photo: Anything :func:`zoo.load_image` accepts (a path, bytes, a PIL image, an array).
        dst: The ``.mp4`` file to write.
        seconds: Length of the clip in seconds (``round(seconds * fps)`` frames, at least 1).
        fps: Frame rate, frames per second.
        size: ``(width, height)`` of the frames in pixels, both even (H.264's 4:2:0 sampling).
        overwrite: Replace an existing ``dst``; by default an existing file is left alone.

    Returns:
        ``dst`` as a :class:`~pathlib.Path`.

    Raises:
        MissingExtraError: PyAV is not installed (``pip install 'vision-zoo[video]'``).
        ConfigError: ``seconds``, ``fps`` or ``size`` is not positive, or a size is odd.
        InvalidImageError: ``photo`` cannot be read.
        FileExistsError: ``dst`` exists and ``overwrite`` is False.
    """
    require("av", "video")
    import av

    frames = _frame_count(seconds, fps)
    _check_size(size)
    path = Path(dst)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    image = load_image(photo)
    # Encoded into a locked temporary (faststart reopens the file by name), then renamed.
    with Temporary(path) as temporary:
        _encode(str(temporary.path), _pan_and_zoom(image, frames, size), fps, size, av)
        temporary.commit(replace=overwrite, fsync=True)
    return path


def _frame_count(seconds: float, fps: int) -> int:
    if isinstance(fps, bool) or not isinstance(fps, int) or fps < 1:
        raise ConfigError(f"fps must be a positive integer, got {fps!r}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ConfigError(f"seconds must be a positive number, got {seconds!r}")
    return max(1, round(seconds * fps))


def _check_size(size: tuple[int, int]) -> None:
    ok = isinstance(size, (tuple, list)) and len(size) == 2
    ok = ok and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    if not ok or size[0] % 2 or size[1] % 2:
        raise ConfigError(f"size must be (width, height) in even positive pixels, got {size!r}")


def _pan_and_zoom(photo: Image.Image, frames: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """``frames`` RGB ``(H, W, 3)`` uint8 frames of ``size`` = (W, H), one at a time."""
    aspect = size[1] / size[0]
    for index in range(frames):
        t = index / max(frames - 1, 1)
        width = photo.width / (1.0 + 0.4 * t)
        height = min(width * aspect, photo.height)
        left = (photo.width - width) * 0.35 * t
        top = (photo.height - height) * 0.3 * t
        box = (left, top, left + width, top + height)
        yield np.asarray(photo.resize(size, Image.Resampling.BILINEAR, box=box))


def _encode(
    path: str, frames: Iterator[np.ndarray], fps: int, size: tuple[int, int], av: Any
) -> None:
    """Write RGB frames of ``size`` = (W, H) as H.264 (``yuv420p``, ``faststart``) in MP4."""
    with av.open(path, "w", format="mp4", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
