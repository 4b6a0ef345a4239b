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
#: Default ceiling on long side / short side. Models resize the short side to their input
#: size, so a 3 × 30,000 strip would become a 224 × 2,240,000 tensor; panoramas stay below 1:20.
MAX_ASPECT_RATIO = 20.0

SUPPORTED = "PNG, JPEG, WebP, GIF, BMP or TIFF"


def _describe(source: ImageSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    name = getattr(source, "name", None)
    return Path(name).name if isinstance(name, str) else "the image"


def _open(
    source: ImageSource, max_pixels: int = MAX_PIXELS, max_aspect_ratio: float = MAX_ASPECT_RATIO
) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels, max_aspect_ratio)
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    elif not isinstance(source, (str, os.PathLike)) and not hasattr(source, "read"):
        raise InvalidImageError(
            f"Expected a path, bytes, a binary file, a PIL image or an array, got "
            f"{type(source).__name__}."
        )
    name = _describe(source)
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise InvalidImageError(f"No image file at {source}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(source)
    except UnidentifiedImageError as exc:
        raise InvalidImageError(f"{name} is not an image: expected {SUPPORTED}.") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(f"{name} is too large to decode safely: {exc}") from exc
    except OSError as exc:
        raise InvalidImageError(f"{name} could not be opened: {exc}") from exc


def _from_array(array: np.ndarray, max_pixels: int, max_aspect_ratio: float) -> Image.Image:
    """An ``(H, W)``, ``(H, W, 1|3|4)`` array as a PIL image; its size is checked before any
    copy is made."""
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InvalidImageError(f"Expected a numeric image array, got dtype {array.dtype}.")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))):
        raise InvalidImageError(
            f"Expected an (H, W), (H, W, 3) or (H, W, 4) array, got {array.shape}."
        )
    check_size(array.shape[1], array.shape[0], max_pixels, max_aspect_ratio, "The image array")
    array = array.squeeze(2) if array.ndim == 3 and array.shape[2] == 1 else array
    if array.dtype != np.uint8:
        array = _to_uint8(array)
    return Image.fromarray(array)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """8-bit pixels of an array, read by its value range, never rescaled by its dtype's range.

    Booleans are 0/255; ``uint16`` is 16-bit (divided by 257). Other integers from 0 to 255
    are 8-bit values; up to 65535, 16-bit values. Floats from 0 to 1 are fractions (times
    255); up to 255, 8-bit values.

    Raises:
        InvalidImageError: NaN or infinity, negative values, or values beyond those ranges
            (the message gives the range found).
    """
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    floating = np.issubdtype(array.dtype, np.floating)
    if floating and not np.isfinite(array).all():
        raise InvalidImageError("The image array holds NaN or infinite values.")
    low, high = array.min(), array.max()  # never empty: sizes are checked first
    if floating:
        scale = 255.0 if high <= 1.0 else 1.0
        limit, expected = 255.0, "0–1 (or 0–255)"
    else:
        scale = 1.0 if high <= 255 and array.dtype != np.uint16 else 1 / 257
        limit, expected = 65535, "0–255 (8-bit) or 0–65535 (16-bit)"
    if low < 0 or high > limit:
        hint = " (normalised? pass the image before normalisation)" if floating else ""
        raise InvalidImageError(
            f"The {array.dtype} image array has values from {low:g} to {high:g}; expected "
            f"{expected}{hint}."
        )
    if scale == 1.0 and not floating:
        return array.astype(np.uint8)
    return np.clip(np.rint(array.astype(np.float32) * scale), 0, 255).astype(np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return Image.fromarray(_to_uint8(np.asarray(image).astype(np.uint16))).convert("RGB")
    if mode in ("I", "F"):  # 32-bit integer or float pixels, read by their value range
        return Image.fromarray(_to_uint8(np.asarray(image))).convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB") if mode != "RGB" else image


def check_size(
    width: int,
    height: int,
    max_pixels: int = MAX_PIXELS,
    max_aspect_ratio: float = MAX_ASPECT_RATIO,
    name: str = "The image",
) -> None:
    """Refuse sizes whose processing would be unbounded, before any decoding or resizing.

    Raises:
        InvalidImageError: Empty, more than ``max_pixels`` pixels, or long side / short side
            above ``max_aspect_ratio`` (the message gives the size and the limit).
    """
    if width < 1 or height < 1:
        raise InvalidImageError(f"{name} is empty ({width}×{height} pixels).")
    if width * height > max_pixels:
        raise InvalidImageError(
            f"{name} is {width}×{height} = {width * height / 1e6:.1f} megapixels; the limit is "
            f"{max_pixels / 1e6:.0f} megapixels. Downscale it and try again."
        )
    ratio = max(width, height) / min(width, height)
    if ratio > max_aspect_ratio:
        raise InvalidImageError(
            f"{name} is {width}×{height} pixels, an aspect ratio of 1:{ratio:.0f}; the limit is "
            f"1:{max_aspect_ratio:.0f}. Crop it to the region of interest and try again."
        )


def load_image(
    source: ImageSource, max_pixels: int = MAX_PIXELS, max_aspect_ratio: float = MAX_ASPECT_RATIO
) -> Image.Image:
    """Open an image as upright 8-bit RGB, whatever its mode and orientation.

    Handles grayscale, palette, RGBA/LA (composited on white), CMYK, 16-bit and float images,
    EXIF orientation, and multi-frame files (first frame).

    Args:
        source: A path, bytes, a binary file object, a PIL image or an ``(H, W[, C])`` array.
        max_pixels: Largest accepted ``width × height``; checked before decoding.
        max_aspect_ratio: Largest accepted long side / short side; checked before decoding.

    Returns:
        A fully decoded ``PIL.Image.Image`` in mode ``"RGB"``.

    Raises:
        InvalidImageError: Not an image, truncated or corrupt, empty, larger than
            ``max_pixels`` or more elongated than ``max_aspect_ratio``; the message names the
            file when ``source`` is a path.
    """
    image = _open(source, max_pixels, max_aspect_ratio)
    name = _describe(source)
    check_size(*image.size, max_pixels, max_aspect_ratio, name=name[:1].upper() + name[1:])
    try:
        image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image) or image
        return _to_rgb(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(
            f"{name} could not be decoded (truncated or corrupt?): {exc}"
        ) from exc
