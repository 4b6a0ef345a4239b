"""Opening user images robustly: any common mode, EXIF orientation, size limits, clear errors."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidImageError

ImageSource = str | os.PathLike | bytes | IO[bytes] | Image.Image | np.ndarray

#: Default ceiling on decoded pixels (width × height): 50 megapixels (~150 MB as RGB).
MAX_PIXELS = 50_000_000

SUPPORTED = "PNG, JPEG, WebP, GIF, BMP or TIFF"


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    name = str(source) if isinstance(source, (str, os.PathLike)) else "the upload"
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise InvalidImageError(f"No image file at {source}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(source)
    except UnidentifiedImageError as exc:
        raise InvalidImageError(
            f"{Path(name).name} is not an image this app can read: expected {SUPPORTED}."
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(f"{Path(name).name} is too large to decode safely: {exc}") from exc


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4)):
        array = array.squeeze(2) if array.ndim == 3 and array.shape[2] == 1 else array
        if array.dtype != np.uint8:
            array = _to_uint8(array)
        return Image.fromarray(array)
    raise InvalidImageError(f"Expected an (H, W), (H, W, 3) or (H, W, 4) array, got {array.shape}.")


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale a float (0–1) or wide-integer (e.g. 16-bit) image to 0–255."""
    values = array.astype(np.float64)
    if np.issubdtype(array.dtype, np.floating) and values.max(initial=0) <= 1.0:
        values = values * 255.0
    elif np.issubdtype(array.dtype, np.integer) and values.max(initial=0) > 255:
        values = values / float(np.iinfo(array.dtype).max) * 255.0
    return np.clip(values, 0, 255).astype(np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)  # (H, W)
        if mode.startswith("I;16"):
            array = array / 65535.0 * 255.0
        elif array.max(initial=0) > 255:
            array = array / array.max() * 255.0
        elif mode == "F" and array.max(initial=0) <= 1.0:
            array = array * 255.0
        return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB") if mode != "RGB" else image


def load_image(source: ImageSource, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image as upright 8-bit RGB, whatever its mode and orientation.

    Handles grayscale, palette, RGBA/LA (composited on white), CMYK, 16-bit and float images,
    EXIF orientation, and multi-frame files (first frame).

    Args:
        source: A path, bytes, a binary file object, a PIL image or an ``(H, W[, C])`` array.
        max_pixels: Largest accepted ``width × height``; checked before decoding.

    Returns:
        A fully decoded ``PIL.Image.Image`` in mode ``"RGB"``.

    Raises:
        InvalidImageError: Not an image, truncated or corrupt, or larger than ``max_pixels``.
    """
    image = _open(source)
    width, height = image.size
    if width * height > max_pixels:
        raise InvalidImageError(
            f"The image is {width}×{height} = {width * height / 1e6:.1f} megapixels; the limit is "
            f"{max_pixels / 1e6:.0f} megapixels. Downscale it and try again."
        )
    try:
        image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image) or image
        return _to_rgb(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(
            f"The image could not be decoded (truncated or corrupt?): {exc}"
        ) from exc
