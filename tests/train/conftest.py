from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def digit_images():
    """scikit-learn's real digits as (N, 8, 8) uint8 and their labels."""
    from train.digits import _digits_arrays

    return _digits_arrays()


def save_gray(array: np.ndarray, path, size: int = 16) -> None:
    """Save an 8×8 digit as an RGB PNG, upscaled."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).resize((size, size), Image.NEAREST).convert("RGB").save(path)
