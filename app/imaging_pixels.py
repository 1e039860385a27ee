"""Pixels the engine can resize and encode: upright, 8-bit, sRGB, without the source's metadata.

Shared by still images and the frames of animations. Knows nothing of Flask or AWS.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image

from .imaging_formats import DECODE_ERRORS

# Box-reduce by whole factors while the shrink left for Lanczos stays above this. At 1.4 a
# thumbnail is within 47 dB PSNR of a fair Lanczos on photos, and made twice as fast as at 2.0.
REDUCING_GAP = 1.4
TRANSPOSE = {  # EXIF orientation → the transposition that makes the image upright
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Modes whose colours an ICC profile can describe.
PROFILED_MODES = ("L", "LA", "RGB", "RGBA", "CMYK")


def orientation(image: Image.Image) -> int:
    """Return the EXIF orientation still to apply to `image` once it is loaded (1: none)."""
    if image.format == "HEIF":
        # libheif has turned it by its irot and imir boxes; HEIF makes the EXIF tag, which
        # phones write as well, a record of that and no instruction: applied, it turns twice.
        return 1
    try:
        value = image.getexif().get(0x0112, 1)
    except DECODE_ERRORS:
        return 1  # damaged EXIF: the pixels are still good, shown as stored
    return value if value in TRANSPOSE else 1


def oriented(size: tuple[int, int], turn: int) -> tuple[int, int]:
    """Swap width and height when the orientation `turn` turns the image a quarter."""
    return (size[1], size[0]) if turn in (5, 6, 7, 8) else size


def fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    """Return `size` scaled to fit a `side`×`side` square, never enlarged."""
    width, height = size
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def resizable(image: Image.Image) -> Image.Image:
    """Convert to a mode Pillow resamples well, keeping transparency, dropping metadata."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        # Keep the high byte of each sample: scaled to 8 bits, where convert("L") would clip.
        image = Image.frombytes("L", image.size, image.tobytes("raw", "I;16B"), "raw", "L;16B")
    elif "transparency" in image.info or mode in ("PA", "La", "RGBa"):
        image = image.convert("LA" if mode in ("L", "La") else "RGBA")
    elif mode in ("1", "P", "RGBX"):
        image = image.convert("L" if mode == "1" else "RGB")
    image.info = {}  # nothing of the source's metadata may reach an output
    return image


def finish(image: Image.Image, turn: int, profile: bytes | None) -> Image.Image:
    """Make the resized image upright, 8-bit, and sRGB."""
    if turn in TRANSPOSE:
        image = image.transpose(TRANSPOSE[turn])
    if image.mode in ("I", "F"):
        image = _scaled_to_8bit(image)
    to_srgb = srgb_converter(profile, image.mode)
    if to_srgb:
        image = to_srgb(image)
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")
    image.info = {}
    return image


def srgb_converter(profile: bytes | None, mode: str) -> Callable[[Image.Image], Image.Image] | None:
    """Return what converts images of `mode` through `profile` to sRGB, made once for many
    frames; None when there is nothing to convert. A profile that does not fit is ignored, as
    browsers ignore it: the colours are taken as sRGB."""
    if not profile or mode not in PROFILED_MODES:
        return None
    from PIL import ImageCms  # only for images with a profile: it costs every cold start

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if ImageCms.getProfileDescription(source).startswith("sRGB"):
            return None
        base = "L" if mode == "LA" else mode
        transform = ImageCms.buildTransform(
            source, ImageCms.createProfile("sRGB"), base, "RGBA" if mode == "RGBA" else "RGB"
        )
    except (ImageCms.PyCMSError, OSError):
        return None

    def convert(image: Image.Image) -> Image.Image:
        alpha = image.getchannel("A") if image.mode == "LA" else None
        try:
            converted = ImageCms.applyTransform(image.convert("L") if alpha else image, transform)
        except (ImageCms.PyCMSError, OSError):
            return image
        if alpha:
            converted.putalpha(alpha)
        return converted

    return convert


def _scaled_to_8bit(image: Image.Image) -> Image.Image:
    low, high = image.getextrema()
    if image.mode == "F":
        scale = 255.0 if 0.0 <= low and high <= 1.0 else 255.0 / max(high, 1e-12)
    else:
        scale = 1 / 256 if high <= 65535 else 1 / 2**24  # 16-bit or 32-bit samples
    return image.point(lambda value: value * scale).convert("L")
