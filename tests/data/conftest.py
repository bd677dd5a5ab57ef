"""Fixtures shared by the data tests: small image files written with Pillow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def save_image() -> Callable[..., Path]:
    """``save_image(path, pixels, mode=None, **save_options)``: write ``pixels`` (H, W[, C]) with Pillow."""

    def save(path: Path, pixels: np.ndarray, mode: str | None = None, **options) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(np.asarray(pixels))
        if mode is not None:
            image = image.convert(mode)
        image.save(path, **options)
        return path

    return save


@pytest.fixture
def gradient_rgb() -> np.ndarray:
    """A (6, 8, 3) uint8 RGB image whose every pixel differs: R = 10*row, G = 10*col, B = 200."""
    rows, cols = np.mgrid[0:6, 0:8]
    return np.stack([rows * 10, cols * 10, np.full_like(rows, 200)], axis=-1).astype(np.uint8)
