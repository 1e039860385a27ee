"""SSIM (Wang, Bovik, Sheikh and Simoncelli, 2004) of two images, on their luma: an 11×11
Gaussian window of σ 1.5, K1 0.01, K2 0.03, as the paper sets it. 1.0 is identical."""

from __future__ import annotations

import numpy
from PIL import Image

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _window(size: int = 11, sigma: float = 1.5) -> numpy.ndarray:
    offsets = numpy.arange(size) - size // 2
    weights = numpy.exp(-(offsets**2) / (2 * sigma**2))
    return weights / weights.sum()


def _blur(plane: numpy.ndarray) -> numpy.ndarray:
    """The Gaussian-weighted local mean, over the windows that fit in the image ("valid")."""
    window = _window()
    rows = numpy.apply_along_axis(lambda row: numpy.convolve(row, window, "valid"), 1, plane)
    return numpy.apply_along_axis(lambda col: numpy.convolve(col, window, "valid"), 0, rows)


def luma(image: Image.Image) -> numpy.ndarray:
    return numpy.asarray(image.convert("RGB").convert("L"), dtype=numpy.float64)


def ssim(first: Image.Image, second: Image.Image) -> float:
    """Return the mean SSIM of two images of one size."""
    if first.size != second.size:
        raise ValueError(f"sizes differ: {first.size} and {second.size}")
    x, y = luma(first), luma(second)
    mx, my = _blur(x), _blur(y)
    vx = _blur(x * x) - mx * mx
    vy = _blur(y * y) - my * my
    cov = _blur(x * y) - mx * my
    index = ((2 * mx * my + _C1) * (2 * cov + _C2)) / ((mx * mx + my * my + _C1) * (vx + vy + _C2))
    return float(index.mean())
