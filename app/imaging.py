"""Bytes in, renditions out: refuse what is not a safe image, make the renditions of the rest.

Knows nothing of Flask or AWS. Which files are read, and how others are refused by name, is in
imaging_formats.py.
"""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image

from .imaging_formats import (
    DECODE_ERRORS,
    ImageRejected,
    identify,
    pillow_limit_as_refusal,
    shrinks_on_load,
)

__all__ = ["ImageRejected", "Options", "Rendition", "Renditions", "make_renditions"]

OUTPUT_FORMATS = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
# Box-reduce by whole factors while the shrink left for Lanczos stays above this. At 1.4 a
# thumbnail is within 47 dB PSNR of a fair Lanczos on photos, and made twice as fast as at 2.0.
REDUCING_GAP = 1.4
STRIP_ROWS = 64  # rows premultiplied at a time when reducing an image with alpha
TRANSPOSE = {  # EXIF orientation → the transposition that makes the image upright
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Options:
    """How renditions are made; one set per deployment."""

    # "auto": JPEG when opaque; WebP with alpha when transparent, plus a lossless PNG to download
    output_format: str = "auto"
    quality: int = 85
    background: tuple[int, int, int] = (255, 255, 255)  # what transparency becomes in a JPEG
    max_pixels: int = 100_000_000

    def __post_init__(self):
        if self.output_format not in ("auto", *OUTPUT_FORMATS):
            raise ValueError(
                f"output_format must be auto, jpeg, png or webp, not {self.output_format!r}"
            )
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be between 1 and 100, not {self.quality}")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ValueError(
                f"background must be three values from 0 to 255, not {self.background!r}"
            )
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be positive, not {self.max_pixels}")


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    content_type: str
    data: bytes
    shown: bool = True  # False: offered for download only, never shown in a page

    @property
    def extension(self) -> str:
        return self.content_type.split("/")[1].replace("jpeg", "jpg")


class Renditions(list):
    """The renditions of one upload, and what Pillow warned of while reading it."""

    def __init__(self, renditions=(), warnings: tuple[str, ...] = ()):
        super().__init__(renditions)
        self.warnings = warnings


def make_renditions(data: bytes, specs, options: Options | None = None) -> Renditions:
    """Decode `data` once and return one rendition per `(name, max_side)` spec, in order; with
    the "auto" format, a transparent image also gets a lossless PNG of the largest size, last."""
    options = options or Options()
    specs = _checked(specs)
    with _pillow_messages() as messages:
        renditions = _convert(data, specs, options)
    return Renditions(renditions, tuple(messages))


def _convert(data: bytes, specs: list[tuple[str, int]], options: Options) -> list[Rendition]:
    source = identify(data)
    _check_size(source, options.max_pixels)
    profile = source.info.get("icc_profile")
    shrink_on_load = source.format in ("JPEG", "MPO") and shrinks_on_load(data)
    image, box, full = _decode(source, max(side for _, side in specs), shrink_on_load)
    # Read after loading: a plugin that turns the image upright itself (Pillow's TIFF does)
    # removes the orientation from the EXIF it reports, so it is never applied twice.
    orientation = _orientation(image)
    image = _resizable(image)
    sizes = {side: _fit(_oriented(full, orientation), side) for _, side in specs}
    largest = max(sizes.values())
    image = _shrink(image, _oriented(largest, orientation), box)
    source.close()  # the full-size pixels: freed before the encoders take their own memory
    image = _finish(image, orientation, profile)
    return _render(image, specs, sizes, options)


@contextmanager
def _pillow_messages():
    """Collect the distinct messages Pillow warns or logs while it reads one upload, so that none
    reaches the process's warnings or logs. Process-wide while it lasts, as warnings filters are:
    a worker converts one upload at a time."""
    messages: dict[str, None] = {}  # ordered and distinct
    logger = logging.getLogger("PIL")
    collector = _Collector(messages)
    saved = logger.propagate, logger.level
    logger.addHandler(collector)
    logger.propagate = False
    logger.setLevel(logging.WARNING)  # its debug lines are never worth making
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit says it
            yield messages
    finally:
        logger.removeHandler(collector)
        logger.propagate = saved[0]
        logger.setLevel(saved[1])
        messages.update(dict.fromkeys(str(warning.message) for warning in caught))


class _Collector(logging.Handler):
    def __init__(self, messages: dict[str, None]):
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages[record.getMessage()] = None


def _checked(specs) -> list[tuple[str, int]]:
    specs = [(str(name), int(side)) for name, side in specs]
    if not specs or any(side < 1 for _, side in specs):
        raise ValueError(f"specs must be (name, max_side) pairs with positive sides, not {specs!r}")
    return specs


def _check_size(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejected(
            "too_large",
            f"The image is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {max_pixels / 1e6:g} megapixels. Upload a smaller image.",
        )


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except DECODE_ERRORS:
        return 1  # damaged EXIF: the pixels are still good, shown as stored
    return value if value in TRANSPOSE else 1


def _oriented(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """Swap width and height when the orientation turns the image a quarter."""
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    """Return `size` scaled to fit a `side`×`side` square, never enlarged."""
    width, height = size
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _decode(source: Image.Image, side: int, shrink_on_load: bool):
    """Load the first frame, shrunk on load if asked to no less than a `side`×`side` rendition
    needs. Return it, the region of it that is the whole image, and the whole image's size."""
    full, box = source.size, None
    if shrink_on_load:
        # _fit is the same whichever way the image is turned: no orientation is needed here.
        drafted = source.draft(source.mode, _fit(source.size, side))
        box = drafted[1] if drafted else None
    try:
        with pillow_limit_as_refusal():
            source.load()
    except DECODE_ERRORS as error:
        raise ImageRejected(
            "corrupt", f"This {source.format} file is damaged or incomplete and cannot be read."
        ) from error
    if box is None:  # the size after loading, whatever a plugin did while loading
        full = source.size
        box = (0, 0, *full)
    return source, box, full


def _shrink(image: Image.Image, size: tuple[int, int], box: tuple[float, ...]) -> Image.Image:
    """Resize the region `box` of `image` to `size`: whole-factor box reductions, then Lanczos."""
    factor = int(min((box[2] - box[0]) / size[0], (box[3] - box[1]) / size[1]) / REDUCING_GAP)
    if factor < 2 or image.mode not in ("LA", "RGBA"):
        return image.resize(size, Image.Resampling.LANCZOS, box, REDUCING_GAP)
    reduced = _reduce_in_strips(image, factor)
    box = tuple(edge / factor for edge in box)
    return reduced.resize(size, Image.Resampling.LANCZOS, box).convert(image.mode)


def _reduce_in_strips(image: Image.Image, factor: int) -> Image.Image:
    """Box-reduce an image with alpha, premultiplied a strip at a time: premultiplying it
    whole, as Image.reduce does, would copy it and double a large PNG's peak memory."""
    premultiplied = {"LA": "La", "RGBA": "RGBa"}[image.mode]
    width, height = image.size
    reduced = Image.new(premultiplied, (-(-width // factor), -(-height // factor)))
    rows = factor * max(1, STRIP_ROWS // factor)
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(height, top + rows))).convert(premultiplied)
        reduced.paste(strip.reduce(factor), (0, top // factor))
    return reduced


def _resizable(image: Image.Image) -> Image.Image:
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


def _finish(image: Image.Image, orientation: int, profile: bytes | None) -> Image.Image:
    """Make the resized image upright, 8-bit, and sRGB."""
    if orientation in TRANSPOSE:
        image = image.transpose(TRANSPOSE[orientation])
    if image.mode in ("I", "F"):
        image = _scaled_to_8bit(image)
    if profile and image.mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        image = _to_srgb(image, profile)
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")
    image.info = {}
    return image


def _scaled_to_8bit(image: Image.Image) -> Image.Image:
    low, high = image.getextrema()
    if image.mode == "F":
        scale = 255.0 if 0.0 <= low and high <= 1.0 else 255.0 / max(high, 1e-12)
    else:
        scale = 1 / 256 if high <= 65535 else 1 / 2**24  # 16-bit or 32-bit samples
    return image.point(lambda value: value * scale).convert("L")


def _to_srgb(image: Image.Image, profile: bytes) -> Image.Image:
    """Convert through the embedded profile to sRGB; a profile that does not fit is ignored."""
    from PIL import ImageCms  # only for images with a profile: it costs every cold start

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if ImageCms.getProfileDescription(source).startswith("sRGB"):
            return image
        alpha = image.getchannel("A") if image.mode == "LA" else None
        base = image.convert("L") if alpha else image
        out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(
            base, source, ImageCms.createProfile("sRGB"), outputMode=out_mode
        )
    except (ImageCms.PyCMSError, OSError):
        return image  # as browsers do: an unusable profile is treated as sRGB
    if alpha:
        converted.putalpha(alpha)
    return converted


def _render(image: Image.Image, specs, sizes, options: Options) -> list[Rendition]:
    """Encode each size, from the largest down, each resized from the one before."""
    if image.mode in ("LA", "RGBA") and image.getchannel("A").getextrema()[0] == 255:
        image = image.convert(image.mode[:-1])  # an opaque alpha channel only costs bytes
    transparent = image.mode in ("LA", "RGBA")
    output_format = options.output_format
    if output_format == "auto":
        output_format = "webp" if transparent else "jpeg"
    if output_format == "jpeg" and transparent:
        flat = Image.new("RGB", image.size, options.background)
        flat.paste(image.convert("RGBA"), mask=image.getchannel("A"))
        image = flat
    made, lossless = {}, None
    for size in sorted(set(sizes.values()), reverse=True):
        if image.size != size:
            image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        made[size] = _encode(image, output_format, options.quality)
        if options.output_format == "auto" and transparent and lossless is None:
            lossless = _encode(image, "png", options.quality)
    renditions = [
        Rendition(name, *sizes[side], OUTPUT_FORMATS[output_format], made[sizes[side]])
        for name, side in specs
    ]
    if lossless:  # named after the first spec of the largest side
        name, side = max(specs, key=lambda spec: spec[1])
        renditions.append(
            Rendition(f"{name}-lossless", *sizes[side], "image/png", lossless, shown=False)
        )
    return renditions


def _encode(image: Image.Image, output_format: str, quality: int) -> bytes:
    out = io.BytesIO()
    if output_format == "jpeg":
        image.save(out, "JPEG", quality=quality, optimize=True)
    elif output_format == "webp":
        # Imported by name: saving to a format whose plugin is not loaded makes Pillow load all
        # of them (AVIF's brings libstdc++), a few MB of memory on every worker.
        from PIL import WebPImagePlugin  # noqa: F401

        if image.mode in ("L", "LA"):  # WebP encodes colour only
            image = image.convert("RGBA" if image.mode == "LA" else "RGB")
        image.save(out, "WEBP", quality=quality)  # its alpha is lossless: edges stay exact
    else:
        image.save(out, "PNG")
    return out.getvalue()
