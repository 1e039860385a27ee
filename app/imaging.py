"""Bytes in, renditions out: refuse what is not a safe image, make the renditions of the rest.

Knows nothing of Flask or AWS. Which files are read, and how others are refused by name, is in
imaging_formats.py.
"""

from __future__ import annotations

import logging
import math
import warnings
from contextlib import contextmanager

from PIL import Image

from . import imaging_animation as animation
from .imaging_formats import (
    ImageRejected,
    decode_errors,
    format_name,
    identify,
    pillow_limit_as_refusal,
    shrinks_on_load,
)
from .imaging_output import OUTPUT_FORMATS, Encoding, Options, Rendition, encode, encoding
from .imaging_pixels import REDUCING_GAP, finish, fit, orientation, oriented, resizable

__all__ = [
    "OUTPUT_FORMATS",
    "ImageRejected",
    "Options",
    "Rendition",
    "Renditions",
    "make_renditions",
]

STRIP_ROWS = 64  # rows premultiplied at a time when reducing an image with alpha
FLAT_FORMATS = ("PNG", "GIF")  # drawn more often than photographed: screenshots, logos


class Renditions(list):
    """The renditions of one upload, what Pillow warned of while reading it, and what the
    person is told of them (an animation shown still, and why), if anything."""

    def __init__(self, renditions=(), warnings: tuple[str, ...] = (), note: str | None = None):
        super().__init__(renditions)
        self.warnings = warnings
        self.note = note


def make_renditions(
    data: bytes, specs, options: Options | None = None, deadline: float = math.inf
) -> Renditions:
    """Decode `data` and return one rendition per `(name, max_side)` spec, in order; with the
    "auto" format, a transparent image shrunk also gets a lossless PNG of the largest size, last.
    An animation gives animated WebP renditions where the options allow it and they are done
    by `deadline` (a `time.monotonic()` value), else its first frame and a note saying why."""
    options = options or Options()
    specs = _checked(specs)
    with _pillow_messages() as messages:
        renditions, note = _convert(data, specs, options, deadline)
    return Renditions(renditions, tuple(messages), note)


def _convert(data: bytes, specs, options: Options, deadline: float) -> tuple[list, str | None]:
    source = identify(data)
    _check_size(source, options.max_pixels)
    note = None
    if animation.is_animation(source):
        note = animation.held_still(source, options)
        if note is None:
            try:
                return animation.render(source, specs, options, deadline), None
            except animation.Unfinished as unfinished:
                source, note = identify(data), unfinished.note
    return _still(source, data, specs, options), note


def _still(source: Image.Image, data: bytes, specs, options: Options) -> list[Rendition]:
    """Decode the first frame once and make every rendition of it."""
    profile = source.info.get("icc_profile")
    kind = source.format
    shrink_on_load = kind in ("JPEG", "MPO") and shrinks_on_load(data)
    image, box, full = _decode(source, max(side for _, side in specs), shrink_on_load)
    # Read after loading: a plugin that turns the image upright itself (Pillow's TIFF does)
    # removes the orientation from the EXIF it reports, so it is never applied twice.
    turn = orientation(image)
    image = resizable(image)
    flat = options.output_format in ("auto", "jpeg") and _flat(kind, image)
    upright = oriented(full, turn)
    sizes = {side: fit(upright, side) for _, side in specs}
    largest = max(sizes.values())
    image = _shrink(image, oriented(largest, turn), box)
    source.close()  # the full-size pixels: freed before the encoders take their own memory
    image = finish(image, turn, profile)
    return _render(image, specs, sizes, upright, flat, options)


def _flat(kind: str, image: Image.Image) -> bool:
    """Whether the source is drawn rather than photographed: a PNG or GIF, or few colours (a
    count that stops at the 257th colour, so a photo costs next to nothing)."""
    return kind in FLAT_FORMATS or image.getcolors(256) is not None


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


def _decode(source: Image.Image, side: int, shrink_on_load: bool):
    """Load the first frame, shrunk on load if asked to no less than a `side`×`side` rendition
    needs. Return it, the region of it that is the whole image, and the whole image's size."""
    full, box = source.size, None
    if shrink_on_load:
        # fit is the same whichever way the image is turned: no orientation is needed here.
        drafted = source.draft(source.mode, fit(source.size, side))
        box = drafted[1] if drafted else None
    try:
        with pillow_limit_as_refusal():
            source.load()
    except decode_errors(source) as error:
        raise ImageRejected(
            "corrupt",
            f"This {format_name(source)} file is damaged or incomplete and cannot be read.",
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


def _render(image, specs, sizes, whole: tuple[int, int], flat: bool, options) -> list:
    """Encode each size, from the largest down, each resized from the one before; a size that
    is the `whole` image is kept losslessly."""
    if image.mode in ("LA", "RGBA") and image.getchannel("A").getextrema()[0] == 255:
        image = image.convert(image.mode[:-1])  # an opaque alpha channel only costs bytes
    transparent = image.mode in ("LA", "RGBA")
    if options.output_format == "jpeg" and transparent:
        background = Image.new("RGB", image.size, options.background)
        background.paste(image.convert("RGBA"), mask=image.getchannel("A"))
        image = background
    largest, *smaller = sorted(set(sizes.values()), reverse=True)
    made, lossless = {}, None
    for size in (largest, *smaller):
        if image.size != size:
            image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        how = encoding(options, transparent, size == whole, flat)
        quality = options.quality_for(side for side, fits in sizes.items() if fits == size)
        made[size] = (how.content_type, encode(image, how, quality))
        if size == largest and options.output_format == "auto" and transparent:
            # A shrunk transparent image is shown as lossy WebP: offer a lossless PNG too.
            png = Encoding("png", lossless=True)
            lossless = None if how.lossless else encode(image, png, quality)
    renditions = [Rendition(name, *sizes[side], *made[sizes[side]]) for name, side in specs]
    if lossless:  # named after the first spec of the largest side
        name, side = max(specs, key=lambda spec: spec[1])
        renditions.append(
            Rendition(f"{name}-lossless", *sizes[side], "image/png", lossless, shown=False)
        )
    return renditions
