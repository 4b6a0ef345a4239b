"""load_image: every common mode becomes upright 8-bit RGB; bad input gets a clear error."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import zoo


def _png(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


GRADIENT = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))  # (48, 64), 0..252


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(GRADIENT),  # L
        Image.fromarray(GRADIENT).convert("1"),
        Image.fromarray(GRADIENT).convert("P"),
        Image.fromarray(GRADIENT).convert("CMYK"),
        Image.fromarray(GRADIENT).convert("LA"),
        Image.fromarray(np.dstack([GRADIENT] * 3 + [np.full_like(GRADIENT, 128)]), "RGBA"),
        Image.fromarray(GRADIENT.astype(np.uint16) * 257),  # 16-bit "I;16"
        Image.fromarray(GRADIENT.astype(np.float32) / 255.0),  # "F"
    ],
    ids=lambda im: im.mode,
)
def test_modes_become_rgb(image):
    out = zoo.load_image(image)
    assert out.mode == "RGB" and out.size == (64, 48)


def test_sixteen_bit_png_keeps_its_contrast():
    data = _png(Image.fromarray(GRADIENT.astype(np.uint16) * 257))
    out = np.asarray(zoo.load_image(data))
    assert out.min() < 5 and out.max() > 245  # not crushed to black or clipped to white


def test_rgba_is_composited_on_white():
    transparent = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert np.asarray(zoo.load_image(transparent))[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    out = zoo.load_image(_png(image, "JPEG", exif=exif))
    assert out.size == (20, 40)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(zoo.InvalidImageError, match=r"notes\.txt is not an image.*PNG, JPEG"):
        zoo.load_image(path)


def test_truncated_image():
    data = _png(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)))
    with pytest.raises(zoo.InvalidImageError, match="truncated or corrupt"):
        zoo.load_image(data[: len(data) // 2])


def test_too_many_pixels_rejected_before_decoding():
    data = _png(Image.new("L", (3000, 2000)))
    with pytest.raises(zoo.InvalidImageError, match=r"6\.0 megapixels"):
        zoo.load_image(data, max_pixels=5_000_000)


def test_missing_file(tmp_path):
    with pytest.raises(zoo.InvalidImageError, match="No image file"):
        zoo.load_image(tmp_path / "missing.png")
