"""Which uploads the engine reads: recognise a file by its bytes, name what we do not read, and
open what we do with its own Pillow plugin, header only.

Knows nothing of Flask or AWS.
"""

from __future__ import annotations

import importlib
import io
import struct
from contextlib import contextmanager

from PIL import Image

# The formats we read: Pillow's plugin for each, and how its files start. A plugin is imported
# only for a file that starts like its own, because each import costs every cold start time
# and memory. AVIF comes with Pillow; HEIC is read by pi-heif (see _open_heic).
PLUGINS = {
    "JPEG": ("JpegImagePlugin", (b"\xff\xd8\xff",)),
    "PNG": ("PngImagePlugin", (b"\x89PNG\r\n\x1a\n",)),
    "GIF": ("GifImagePlugin", (b"GIF87a", b"GIF89a")),
    "WEBP": ("WebPImagePlugin", (b"RIFF",)),
    "BMP": ("BmpImagePlugin", (b"BM",)),
    "TIFF": ("TiffImagePlugin", (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")),
    "AVIF": ("AvifImagePlugin", ()),  # an ISO media file: "ftyp" at offset 4
}
# What a person is told we read, in the order the upload page names them (a test keeps the
# page's list the same).
READABLE = ("JPEG", "PNG", "GIF", "WebP", "HEIC", "AVIF", "BMP", "TIFF")
FORMATS_HINT = f"Upload a {', '.join(READABLE[:-1])} or {READABLE[-1]} image."
JPEG_HINT = "Save the image as a standard 8-bit JPEG, or as a PNG, and upload it again."
# Errors Pillow's format plugins raise on malformed headers and data.
DECODE_ERRORS = (SyntaxError, OSError, ValueError, EOFError, IndexError, TypeError, struct.error)
# libheif reports damaged data (an image larger than its header says, say) as RuntimeError.
HEIC_DECODE_ERRORS = (*DECODE_ERRORS, RuntimeError)
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
AVIF_BRANDS = {b"avif", b"avis"}
FTYP_MAX = 1024  # bytes of an ftyp box read for its brands: real ones hold a handful
# JPEG frame headers (SOFn markers). libjpeg decodes at 1/2, 1/4 or 1/8 scale only in the DCT
# processes; a lossless (predictive) frame has no such shortcut, and Pillow reads 8 bits only.
JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
JPEG_DCT = {0xC0, 0xC1, 0xC2, 0xC9, 0xCA}
JPEG_LOSSLESS = {0xC3, 0xC7, 0xCB, 0xCF}
JPEG_HIERARCHICAL = {0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF}
JPEG_STANDALONE = {0x01, *range(0xD0, 0xD9)}  # markers without a length: TEM, RSTn, SOI


class ImageRejected(Exception):
    """An upload we will not convert, with a code and a message a person can act on."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def identify(data: bytes) -> Image.Image:
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
    if data.startswith(b"\xff\xd8"):
        _check_jpeg_frame(data)
    if is_heic(data):
        return _open_heic(data)
    for name in _candidates(data):
        factory, accept = Image.OPEN[name]
        if accept(data[:16]) is not True:  # not this format, or its codec is missing
            continue
        # Not Image.open: it applies Pillow's process-wide pixel limit before ours, and without
        # naming the size; this is the same plugin call, and our limit follows at once.
        try:
            with pillow_limit_as_refusal():
                return factory(io.BytesIO(data))
        except DECODE_ERRORS as error:
            raise _damaged(name) from error
    raise ImageRejected("not_an_image", f"This file is not an image we can read. {FORMATS_HINT}")


def is_heic(data: bytes) -> bool:
    """Whether `data` is an ISO media file whose brands name HEVC: a HEIC image."""
    brands = _brands(data)
    return bool(brands & HEVC_BRANDS) and not brands & AVIF_BRANDS


def decode_errors(image: Image.Image) -> tuple[type[Exception], ...]:
    """Return the errors that mean `image`'s data is damaged, as its decoder raises them."""
    return HEIC_DECODE_ERRORS if image.format == "HEIF" else DECODE_ERRORS


def format_name(image: Image.Image) -> str:
    """Return the name a person knows the image's format by."""
    return "HEIC" if image.format == "HEIF" else image.format


def shrinks_on_load(data: bytes) -> bool:
    """Whether the JPEG in `data` is coded so that libjpeg can decode it at a reduced scale."""
    frame = _jpeg_frame(data)
    return frame is not None and frame[0] in JPEG_DCT and frame[1] == 8


@contextmanager
def pillow_limit_as_refusal():
    """Make Pillow's own pixel-limit error a refusal (its warning is left to our own limit)."""
    try:
        yield
    except Image.DecompressionBombError as error:
        raise ImageRejected(
            "too_large", "A frame of this image is too large to convert. Upload a smaller image."
        ) from error


def _damaged(name: str) -> ImageRejected:
    return ImageRejected("corrupt", f"This {name} file is damaged and cannot be read.")


def _open_heic(data: bytes) -> Image.Image:
    """Read a HEIC's header with pi-heif's own class, whatever else registered a HEIF opener.

    Imported here alone: libheif and libde265 would cost every other upload's cold start.
    libheif turns the image as its irot and imir boxes say, and reports the turned size, so
    the EXIF orientation that phones also write is left for the engine to ignore.
    """
    from pi_heif import HeifImageFile

    try:
        return HeifImageFile(io.BytesIO(data))
    except HEIC_DECODE_ERRORS as error:
        raise _damaged("HEIC") from error


def _brands(data: bytes) -> set[bytes]:
    """Return the major and compatible brands of an ISO media file's ftyp box, if it has one."""
    if data[4:8] != b"ftyp":
        return set()
    size = int.from_bytes(data[:4], "big") or len(data)  # 0: the box runs to the file's end
    end = min(size, len(data), FTYP_MAX)
    return {data[8:12]} | {data[at : at + 4] for at in range(16, end - 3, 4)}


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
    brands = _brands(data)
    if brands & AVIF_BRANDS:
        return None if importlib.import_module("PIL.AvifImagePlugin").SUPPORTED else "AVIF"
    if brands & HEIF_BRANDS and not brands & HEVC_BRANDS:
        return "HEIF"  # a HEIF of another codec (JPEG, uncompressed): libheif here reads HEVC
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) and b"<svg" in data[:4096].lower():
        return "SVG"
    return None


def _check_jpeg_frame(data: bytes) -> None:
    """Refuse a JPEG that is damaged from its first bytes, or of a kind Pillow does not read."""
    if not data.startswith(b"\xff\xd8\xff"):  # every JPEG segment starts with 0xFF
        raise _damaged("JPEG")
    frame = _jpeg_frame(data)
    if frame is None:
        return  # Pillow's own parser decides, and says so
    marker, bits = frame
    if bits not in (8, 12, 16):
        raise _damaged("JPEG")
    if bits != 8 or marker in JPEG_HIERARCHICAL:
        words = [f"{bits}-bit"] if bits != 8 else []
        words += ["hierarchical"] if marker in JPEG_HIERARCHICAL else []
        words += ["lossless"] if marker in JPEG_LOSSLESS else []
        kind = " ".join([*words, "JPEG"])
        raise ImageRejected(
            "unsupported_format",
            f"{kind[0].upper()}{kind[1:]} files are not supported. {JPEG_HINT}",
        )


def _jpeg_frame(data: bytes) -> tuple[int, int] | None:
    """Return the marker and sample precision of the first frame header, or None if there is none
    before the first scan. Bytes between segments are skipped, as Pillow skips them."""
    at = 2
    while at + 5 <= len(data):
        marker = data[at + 1]
        if data[at] != 0xFF or marker == 0xFF:  # junk, or a fill byte before a marker
            at += 1
        elif marker in JPEG_FRAMES:
            return marker, data[at + 4]
        elif marker == 0xDA:  # a scan before any frame header
            return None
        elif marker in JPEG_STANDALONE:
            at += 2
        else:
            at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None
