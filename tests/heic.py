"""HEIC test files, written by pillow-heif's encoder (x265: the test lock alone installs it), and
the few box edits the tests need. The engine reads them with pi-heif, which has no encoder."""

from __future__ import annotations

import io
import struct
from contextlib import contextmanager

import pillow_heif
from PIL import Image


def heic(image: Image.Image, quality: int = 95, **params) -> bytes:
    """Return `image` written as HEIC, with what its `info` holds (EXIF, ICC profile, XMP)."""
    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, quality=quality, **params)
    return out.getvalue()


def heic_of(images: list[Image.Image], primary: int) -> bytes:
    """Return several images in one HEIC file, `images[primary]` the primary one."""
    container = pillow_heif.from_pillow(images[0])
    for image in images[1:]:
        container.add_from_pillow(image)
    out = io.BytesIO()
    container.save(out, quality=95, primary_index=primary)
    return out.getvalue()


def heic_10_bit(size: tuple[int, int], rgb16: tuple[int, int, int]) -> bytes:
    """Return a 10-bit HEIC of one colour given in 16-bit samples."""
    pixels = struct.pack("<3H", *rgb16) * (size[0] * size[1])
    out = io.BytesIO()
    pillow_heif.from_bytes("RGB;16", size, pixels).save(out, quality=95)
    return out.getvalue()


def box(data: bytes, kind: bytes) -> int:
    """Return where the body of the first box of `kind` starts (after its size and type)."""
    return data.index(kind) + 4


def rotation(data: bytes) -> int:
    """Return the quarter turns, anticlockwise, of the file's irot box (0 if it has none)."""
    return data[box(data, b"irot")] & 3 if b"irot" in data else 0


def with_rotation(data: bytes, quarters: int) -> bytes:
    """Return `data` with its irot box turning `quarters` quarter turns anticlockwise."""
    edited = bytearray(data)
    edited[box(data, b"irot")] = quarters
    return bytes(edited)


def declaring(data: bytes, width: int, height: int) -> bytes:
    """Return `data` with the size its ispe box declares changed: the pixels stay as coded."""
    at = box(data, b"ispe") + 4  # after the box's version and flags
    return data[:at] + struct.pack(">II", width, height) + data[at + 8 :]


@contextmanager
def encoders_opener():
    """Make pillow-heif's opener Pillow's for HEIF files while this lasts, as a careless
    process might; then take it out of Pillow's registries again, in place."""
    assert "HEIF" not in Image.OPEN
    pillow_heif.register_heif_opener()
    try:
        yield
    finally:
        for registry in (Image.OPEN, Image.SAVE, Image.SAVE_ALL, Image.MIME):
            registry.pop("HEIF", None)
        Image.ID[:] = [name for name in Image.ID if name != "HEIF"]
        for extension in [e for e, name in Image.EXTENSION.items() if name == "HEIF"]:
            del Image.EXTENSION[extension]


def quarter_turned(image: Image.Image, quarters: int) -> Image.Image:
    """Return `image` turned `quarters` quarter turns anticlockwise, as irot turns it."""
    return image.rotate(90 * quarters, expand=True) if quarters else image
