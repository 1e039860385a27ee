"""Bytes in, renditions out: refuse what is not a safe image, make the thumbnails of the rest.

Knows nothing of Flask or AWS.
"""

from __future__ import annotations

import importlib
import io
import struct
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image

# The formats we read: Pillow's plugin for each, and how its files start. A plugin is imported
# only for a file that starts like its own, because each import costs every cold start time
# and memory. HEIC is not read: it needs libheif, a large native library with patent-encumbered
# codecs; AVIF comes with Pillow.
PLUGINS = {
    "JPEG": ("JpegImagePlugin", (b"\xff\xd8\xff",)),
    "PNG": ("PngImagePlugin", (b"\x89PNG\r\n\x1a\n",)),
    "GIF": ("GifImagePlugin", (b"GIF87a", b"GIF89a")),
    "WEBP": ("WebPImagePlugin", (b"RIFF",)),
    "BMP": ("BmpImagePlugin", (b"BM",)),
    "TIFF": ("TiffImagePlugin", (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")),
    "AVIF": ("AvifImagePlugin", ()),  # an ISO media file: "ftyp" at offset 4
}
FORMATS_HINT = "Upload a JPEG, PNG, GIF, WebP, BMP, TIFF or AVIF image."
OUTPUT_FORMATS = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
# Errors Pillow's format plugins raise on malformed headers and data.
DECODE_ERRORS = (SyntaxError, OSError, ValueError, EOFError, IndexError, TypeError, struct.error)
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
# Formats recognised only to name them in the refusal.
SIGNATURES = (
    (b"%PDF", "PDF"),
    (b"%!PS", "PostScript"),
    (b"8BPS", "Photoshop (PSD)"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
)
HEVC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
HEIF_BRANDS = HEVC_BRANDS | {b"mif1", b"msf1"}  # also containers of other codecs


class ImageRejected(Exception):
    """An upload we will not convert, with a code and a message a person can act on."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Options:
    """How renditions are made; one set per deployment."""

    output_format: str = "auto"  # "auto": JPEG when opaque, PNG when transparent
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

    @property
    def extension(self) -> str:
        return self.content_type.split("/")[1].replace("jpeg", "jpg")


def make_renditions(data: bytes, specs, options: Options | None = None) -> list[Rendition]:
    """Decode `data` once and return one rendition per `(name, max_side)` spec, in order."""
    options = options or Options()
    specs = _checked(specs)
    source = _identify(data)
    _check_size(source, options.max_pixels)
    orientation = _orientation(source)
    profile = source.info.get("icc_profile")
    upright = _oriented(source.size, orientation)
    sizes = {side: _fit(upright, side) for _, side in specs}
    largest = max(sizes.values())
    image, box = _decode(source, _oriented(largest, orientation))
    image = _shrink(image, _oriented(largest, orientation), box)
    image = _finish(image, orientation, profile)
    image, output_format = _for_output(image, options)
    made = {}
    for size in sorted(set(sizes.values()), reverse=True):
        if image.size != size:
            image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        made[size] = _encode(image, output_format, options.quality)
    return [
        Rendition(name, *sizes[side], OUTPUT_FORMATS[output_format], made[sizes[side]])
        for name, side in specs
    ]


def _checked(specs) -> list[tuple[str, int]]:
    specs = [(str(name), int(side)) for name, side in specs]
    if not specs or any(side < 1 for _, side in specs):
        raise ValueError(f"specs must be (name, max_side) pairs with positive sides, not {specs!r}")
    return specs


def _identify(data: bytes) -> Image.Image:
    """Read the header only, with the plugin of the accepted format the bytes start like."""
    if not data:
        raise ImageRejected(
            "not_an_image", "The file is empty. Choose an image file and upload it again."
        )
    named = _unsupported_name(data)
    if named:
        raise ImageRejected(
            "unsupported_format", f"{named} files are not supported. {FORMATS_HINT}"
        )
    for name in _candidates(data):
        factory, accept = Image.OPEN[name]
        if accept(data[:16]) is not True:  # not this format, or its codec is missing
            continue
        # Not Image.open: it applies Pillow's process-wide pixel limit before ours, and without
        # naming the size; this is the same plugin call, and our limit follows at once.
        try:
            with _pillow_limit_as_refusal():
                return factory(io.BytesIO(data))
        except DECODE_ERRORS as error:
            raise ImageRejected(
                "corrupt", f"This {name} file is damaged and cannot be read."
            ) from error
    raise ImageRejected("not_an_image", f"This file is not an image we can read. {FORMATS_HINT}")


def _candidates(data: bytes):
    for name, (module, starts) in PLUGINS.items():
        if data.startswith(starts) if starts else data[4:8] == b"ftyp":
            importlib.import_module(f"PIL.{module}")
            yield name


def _unsupported_name(data: bytes) -> str | None:
    """Name a format we recognise but do not read."""
    for signature, name in SIGNATURES:
        if data.startswith(signature):
            return name
    if data[4:8] == b"ftyp":
        brands = {data[i : i + 4] for i in range(8, min(len(data), 64), 4)}
        if brands & {b"avif", b"avis"}:
            return None if importlib.import_module("PIL.AvifImagePlugin").SUPPORTED else "AVIF"
        if brands & HEIF_BRANDS:
            return "HEIC" if brands & HEVC_BRANDS else "HEIF"
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) and b"<svg" in data[:4096].lower():
        return "SVG"
    return None


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


def _decode(source: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, tuple[float, ...]]:
    """Decode the first frame, shrunk on load to no less than `size` where the format can."""
    box = (0, 0, *source.size)
    drafted = source.draft(source.mode, size) if source.format in ("JPEG", "MPO") else None
    if drafted:
        box = drafted[1]
    try:
        with _pillow_limit_as_refusal():
            source.load()
    except DECODE_ERRORS as error:
        raise ImageRejected(
            "corrupt", f"This {source.format} file is damaged or incomplete and cannot be read."
        ) from error
    return _resizable(source), box


@contextmanager
def _pillow_limit_as_refusal():
    """Leave Pillow's pixel-limit warning to our own limit; make its error a refusal."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            yield
        except Image.DecompressionBombError as error:
            raise ImageRejected(
                "too_large",
                "A frame of this image is too large to convert. Upload a smaller image.",
            ) from error


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


def _for_output(image: Image.Image, options: Options) -> tuple[Image.Image, str]:
    """Pick the output format; drop or flatten transparency where it has no use."""
    if image.mode in ("LA", "RGBA") and image.getchannel("A").getextrema()[0] == 255:
        image = image.convert(image.mode[:-1])  # an opaque alpha channel only costs bytes
    output_format = options.output_format
    if output_format == "auto":
        output_format = "png" if image.mode in ("LA", "RGBA") else "jpeg"
    if output_format == "jpeg" and image.mode in ("LA", "RGBA"):
        flat = Image.new("RGB", image.size, options.background)
        flat.paste(image.convert("RGBA"), mask=image.getchannel("A"))
        return flat, output_format
    if output_format == "webp" and image.mode in ("L", "LA"):  # WebP encodes colour only
        return image.convert("RGBA" if image.mode == "LA" else "RGB"), output_format
    return image, output_format


def _encode(image: Image.Image, output_format: str, quality: int) -> bytes:
    out = io.BytesIO()
    if output_format == "jpeg":
        image.save(out, "JPEG", quality=quality, optimize=True)
    elif output_format == "webp":
        image.save(out, "WEBP", quality=quality)
    else:
        image.save(out, "PNG")
    return out.getvalue()
