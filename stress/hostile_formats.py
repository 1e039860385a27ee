"""Hostile HEIC files and long animations, each through the whole pipeline (see hostile.py)."""

from __future__ import annotations

import io
import struct

from PIL import Image

from .hostile import Case


def _heic(image: Image.Image, *more: Image.Image, primary: int = 0) -> bytes:
    """Write HEIC with the tests' encoder (pillow-heif: never shipped)."""
    import pillow_heif

    container = pillow_heif.from_pillow(image)
    for other in more:
        container.add_from_pillow(other)
    out = io.BytesIO()
    container.save(out, quality=80, primary_index=primary)
    return out.getvalue()


def _declaring(data: bytes, width: int, height: int) -> bytes:
    """Change the size the ispe box declares; the coded pixels stay."""
    at = data.index(b"ispe") + 8
    return data[:at] + struct.pack(">II", width, height) + data[at + 8 :]


def _gif(frames: int, side: int) -> bytes:
    """An animation of flat frames: a small file that is a lot of pixels."""
    images = [Image.new("P", (side, side), n % 3) for n in range(frames)]
    for image in images:
        image.putpalette([240, 240, 240, 200, 40, 40, 40, 90, 200] + [0] * 759)
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    return out.getvalue()


def cases() -> list[Case]:
    """Return the HEIC and animation cases."""
    photo = _heic(Image.effect_noise((1200, 900), 60).convert("RGB"))
    return [
        Case("HEIC photo", "IMG_0001.HEIC", photo, "done", "image/heic"),
        Case("truncated HEIC", "half.heic", photo[: len(photo) // 2], "failed", "image/heic"),
        Case(
            "HEIC claiming 40000×40000",
            "claims.heic",
            _declaring(photo, 40000, 40000),
            "failed",
            "image/heic",
        ),
        Case(
            "HEIC coded larger than it claims",
            "small.heic",
            _declaring(photo, 64, 48),
            "failed",
            "image/heic",
        ),
        Case(
            "HEIC brands, then noise",
            "brands.heic",
            b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(range(256)) * 40,
            "failed",
            "image/heic",
        ),
        Case(
            "HEIC whose primary is its second image",
            "burst.heic",
            _heic(Image.new("RGB", (300, 200), "red"), Image.new("RGB", (300, 200)), primary=1),
            "done",
            "image/heic",
        ),
        Case("GIF of 45 frames of 1000×1000", "long.gif", _gif(45, 1000), "done", "image/gif"),
        Case("GIF of 200 frames of 1000×1000", "longer.gif", _gif(200, 1000), "done", "image/gif"),
    ]
