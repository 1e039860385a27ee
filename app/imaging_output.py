"""What the engine writes: the options of a deployment, and how each rendition is encoded.

A rendition that is the whole image at its own size is written losslessly: shrinking nothing,
it has nothing to lose. Knows nothing of Flask or AWS.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field

from PIL import Image

OUTPUT_FORMATS = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
# Frames × width × height an animation may have and still move: the work a conversion may
# start. The kinds bench/formats.py measures cost 0.08 to 0.32 s a megapixel (the most for a
# photo clip whose every frame is new, kept lossless): 4 to 16 s at this limit, 7 to 27 s of
# a 1 GB Lambda, under half of its 60 s. The worker's deadline catches what a busier host
# would not finish in time, and shows its first frame.
MAX_ANIMATION_PIXELS = 50_000_000


@dataclass(frozen=True)
class Options:
    """How renditions are made; one set per deployment."""

    # "auto": WebP for what is transparent or kept whole (losslessly), JPEG for the rest; a
    # transparent image shrunk also gets a lossless PNG of the largest size to download
    output_format: str = "auto"
    quality: int = 85
    # A size's own quality, by its longest side (Settings.rendition_qualities): else `quality`.
    qualities: Mapping[int, int] = field(default_factory=dict)
    background: tuple[int, int, int] = (255, 255, 255)  # what transparency becomes in a JPEG
    max_pixels: int = 100_000_000
    max_animation_pixels: int = MAX_ANIMATION_PIXELS

    def __post_init__(self):
        if self.output_format not in ("auto", *OUTPUT_FORMATS):
            raise ValueError(
                f"output_format must be auto, jpeg, png or webp, not {self.output_format!r}"
            )
        for quality in (self.quality, *self.qualities.values()):
            if not 1 <= quality <= 100:
                raise ValueError(f"quality must be between 1 and 100, not {quality}")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ValueError(
                f"background must be three values from 0 to 255, not {self.background!r}"
            )
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be positive, not {self.max_pixels}")
        if self.max_animation_pixels < 0:
            raise ValueError(
                f"max_animation_pixels must be 0 or more, not {self.max_animation_pixels}"
            )

    def quality_for(self, sides) -> int:
        """Return the quality of a size that renditions of these longest sides share (the
        highest of theirs, where they differ)."""
        return max(self.qualities.get(side, self.quality) for side in sides)

    @property
    def animates(self) -> bool:
        """Whether renditions may move: WebP can, JPEG and PNG cannot."""
        return self.output_format in ("auto", "webp")


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


@dataclass(frozen=True)
class Encoding:
    """How one rendition is written."""

    format: str  # a key of OUTPUT_FORMATS
    lossless: bool = False
    full_chroma: bool = False  # a JPEG's colour at every pixel (4:4:4), not every second

    @property
    def content_type(self) -> str:
        return OUTPUT_FORMATS[self.format]


def encoding(options: Options, transparent: bool, whole: bool, flat: bool) -> Encoding:
    """Return how to write a rendition: `whole` when it is the image at its own size, `flat`
    when the source is drawn rather than photographed (PNG, GIF, 256 colours or fewer), where
    halving the colour's resolution shows at every edge."""
    chosen = options.output_format
    if chosen == "auto":
        chosen = "webp" if transparent or whole else "jpeg"
    if chosen == "jpeg":
        return Encoding("jpeg", full_chroma=flat)
    return Encoding(chosen, lossless=whole or chosen == "png")


# Below this size a JPEG rendition is also tried as baseline: measured on the benchmark photo,
# baseline is smaller at 64 x 48 (0.7 against 1.0 kB), progressive from 128 x 96 (6.3 kB).
BASELINE_TRIED = 16 * 1024


def encode(image: Image.Image, how: Encoding, quality: int) -> bytes:
    """Write one rendition's pixels."""
    out = io.BytesIO()
    if how.format == "jpeg":
        chroma = {"subsampling": 0} if how.full_chroma else {}  # 4:4:4, or libjpeg's 4:2:0
        # Progressive: the same pixels in 5-9% fewer bytes for a rendition of a photo (less to
        # send, and it draws coarse-to-fine on a slow link), for about 10 ms more at 1024 px.
        # A small file's extra scan headers can outweigh that: below BASELINE_TRIED bytes the
        # baseline encoding is made too (it is cheap there), and the smaller kept.
        image.save(out, "JPEG", quality=quality, optimize=True, progressive=True, **chroma)
        if out.tell() < BASELINE_TRIED:
            baseline = io.BytesIO()
            image.save(baseline, "JPEG", quality=quality, optimize=True, **chroma)
            if baseline.tell() < out.tell():
                out = baseline
    elif how.format == "webp":
        load_webp()
        if image.mode in ("L", "LA"):  # WebP encodes colour only
            image = image.convert("RGBA" if image.mode == "LA" else "RGB")
        if how.lossless:
            # exact: even a transparent pixel keeps its colour, so it decodes identical
            image.save(out, "WEBP", lossless=True, exact=True)
        else:
            image.save(out, "WEBP", quality=quality)  # its alpha is lossless: edges stay exact
    else:
        image.save(out, "PNG")
    return out.getvalue()


def load_webp() -> None:
    """Import Pillow's WebP plugin by name: saving to a format whose plugin is not loaded makes
    Pillow load all of them (AVIF's brings libstdc++), a few MB of memory on every worker."""
    from PIL import WebPImagePlugin  # noqa: F401
