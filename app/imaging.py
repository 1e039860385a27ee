"""Bytes in, renditions out. Knows nothing of Flask or AWS."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = {"JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"}


class ImageRejected(Exception):
    """An upload we will not convert, with a code and a message a person can act on."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Options:
    output_format: str = "auto"
    quality: int = 85
    background: tuple[int, int, int] = (255, 255, 255)
    max_pixels: int = 100_000_000


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    content_type: str
    data: bytes

    @property
    def extension(self) -> str:
        return self.content_type.split("/")[1].replace("jpeg", "jpg")


def make_renditions(data: bytes, specs, options: Options | None = None) -> list[Rendition]:
    """Decode `data` once and return one rendition per `(name, max_side)` spec."""
    options = options or Options()
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as error:
        raise ImageRejected("not_an_image", "This file is not an image we can read.") from error
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected("unsupported_format", f"{image.format} images are not supported.")
    width, height = image.size
    if width * height > options.max_pixels:
        raise ImageRejected(
            "too_large",
            f"The image is {width}×{height} pixels; the limit is "
            f"{options.max_pixels // 1_000_000} megapixels.",
        )
    largest = max(side for _, side in specs)
    image.draft("RGB", (largest, largest))
    try:
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError) as error:
        raise ImageRejected("corrupt", "This image file is damaged or incomplete.") from error
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    image = image.convert("RGBA" if transparent else "RGB")
    renditions = []
    for name, side in sorted(specs, key=lambda spec: -spec[1]):
        image = image.copy()
        image.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
        renditions.append(_encode(name, image, transparent, options))
    return sorted(renditions, key=lambda r: [n for n, _ in specs].index(r.name))


def _encode(name: str, image: Image.Image, transparent: bool, options: Options) -> Rendition:
    out = io.BytesIO()
    if transparent:
        image.save(out, "PNG", optimize=True)
        content_type = "image/png"
    else:
        image.save(out, "JPEG", quality=options.quality, optimize=True)
        content_type = "image/jpeg"
    return Rendition(name, image.width, image.height, content_type, out.getvalue())
