"""Build test images as bytes: encoded images, hand-made PNG and JPEG headers, ICC profiles."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageChops, ImageFilter

RED, GREEN, BLUE, YELLOW = (230, 20, 20), (20, 200, 20), (20, 20, 230), (240, 220, 10)
D50 = (0.9642, 1.0, 0.8249)
# Colorants (D50-adapted, as in the published profiles) of three RGB spaces.
SRGB = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
ADOBE_RGB = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))
DISPLAY_P3 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    """Return `image` saved as `fmt`."""
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    """Return the image in `data`, loaded."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def quadrants(
    size: tuple[int, int] = (80, 40), mode: str = "RGB", colours=(RED, GREEN, BLUE, YELLOW)
) -> Image.Image:
    """Return an image whose four quarters are red, green (top), blue, yellow (bottom), or
    `colours` in that order."""
    width, height = size
    image = Image.new(mode, size)
    for colour, box in zip(
        colours, ((0, 0), (width // 2, 0), (0, height // 2), (width // 2, height // 2))
    ):
        image.paste(colour, (*box, box[0] + width // 2, box[1] + height // 2))
    return image


def quadrant_colours(image: Image.Image) -> list[tuple[int, ...]]:
    """Return the colours at the centres of the quarters, in reading order."""
    width, height = image.size
    points = [
        (width // 4, height // 4),
        (3 * width // 4, height // 4),
        (width // 4, 3 * height // 4),
        (3 * width // 4, 3 * height // 4),
    ]
    rgb = image.convert("RGB")
    return [rgb.getpixel(point) for point in points]


def close(a, b, tolerance: int) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def png(
    width: int, height: int, bit_depth: int, colour_type: int, raw_rows: bytes, chunks=()
) -> bytes:
    """Write a PNG by hand: for headers that lie and for what Pillow cannot save (16-bit RGB)."""
    body = [
        (b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)),
        *chunks,
    ]
    body += [(b"IDAT", zlib.compress(raw_rows)), (b"IEND", b"")]
    out = b"\x89PNG\r\n\x1a\n"
    for kind, data in body:
        out += (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )
    return out


def jpeg_declaring(width: int, height: int) -> bytes:
    """Return a small valid JPEG whose frame header declares `width`×`height`."""
    data = bytearray(encode(Image.new("RGB", (16, 16), RED), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def with_exif(jpeg: bytes, exif: Image.Exif) -> bytes:
    """Return `jpeg` with `exif` in an APP1 segment after its start: for encoders without EXIF."""
    body = exif.tobytes()  # starts with the "Exif\0\0" header
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def lossless_jpeg(image: Image.Image, bits: int = 8) -> bytes:
    """Return `image` (L or RGB) as a lossless (SOF3) JPEG of `bits` bits a sample, which Pillow
    cannot write; its 8-bit values are scaled to fill the bits."""
    import imagecodecs  # a test-only dependency, and slow to import

    return imagecodecs.jpeg8_encode(_samples(image, bits), lossless=True, bitspersample=bits)


def jpeg_12_bit(image: Image.Image) -> bytes:
    """Return `image` as a lossy 12-bit (extended, SOF1) JPEG, which Pillow cannot write."""
    import imagecodecs

    return imagecodecs.jpeg8_encode(_samples(image, 12), level=95, bitspersample=12)


def _samples(image: Image.Image, bits: int):
    import numpy

    samples = numpy.asarray(image)
    return samples if bits == 8 else samples.astype(numpy.uint16) << (bits - 8)


def photo_with_alpha(size: tuple[int, int]) -> Image.Image:
    """Return a photo-like RGBA image: colour varying at several scales, with grain, an opaque
    middle and a transparent border joined by a soft edge, as a cut-out photo has."""
    width, height = size

    def octave(scale: int, sigma: float) -> Image.Image:
        small = Image.effect_noise((max(2, width // scale), max(2, height // scale)), sigma)
        return small.resize(size, Image.Resampling.BICUBIC)

    bands = [
        ImageChops.add(
            ImageChops.add(octave(48, 50), octave(8, 20), 1.0, -128), octave(1, 8), 1.0, -128
        )
        for _ in range(3)
    ]
    image = Image.merge("RGB", bands)
    alpha = Image.radial_gradient("L").resize(size).point(lambda v: 255 if v < 100 else 0)
    image.putalpha(alpha.filter(ImageFilter.GaussianBlur(max(1, width // 200))))
    return image


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(xyz) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _desc(text: str) -> bytes:
    ascii_ = text.encode() + b"\0"
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_))
        + ascii_
        + b"\0" * 8
        + b"\0\0\0"
        + b"\0" * 67
    )


def icc_profile(device_class: bytes, space: bytes, pcs: bytes, tags: dict[bytes, bytes]) -> bytes:
    """Assemble an ICC v2 profile from its tags."""
    tags = {
        b"desc": _desc("test profile"),
        b"cprt": b"text\0\0\0\0none\0",
        b"wtpt": _xyz(D50),
        **tags,
    }
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags.items():
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I4sI4s4s4s", size, b"lcms", 0x02100000, device_class, space, pcs)
    header += (
        b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50)
    )
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def rgb_profile(colorants, gamma: float | None = None) -> bytes:
    """An RGB matrix/TRC profile; a pure `gamma` curve, or the sRGB curve when None."""
    if gamma is not None:
        curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))
    else:  # parametric curve type 3, the sRGB transfer function
        params = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
        curve = b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(_s15(v) for v in params)
    tags = {b"rXYZ": _xyz(colorants[0]), b"gXYZ": _xyz(colorants[1]), b"bXYZ": _xyz(colorants[2])}
    tags.update({b"rTRC": curve, b"gTRC": curve, b"bTRC": curve})
    return icc_profile(b"mntr", b"RGB ", b"XYZ ", tags)


def cmyk_profile(inks: dict[str, tuple[int, int, int]]) -> bytes:
    """A CMYK printer profile (lut8, to Lab) printing each ink as the sRGB colour given for it."""
    grid = b""
    for corner in range(16):  # the first channel (cyan) varies slowest
        inked = [name for bit, name in zip((8, 4, 2, 1), "CMYK") if corner & bit]
        linear = [1.0, 1.0, 1.0]
        for name in inked:
            linear = [a * srgb_to_linear(b / 255) for a, b in zip(linear, inks[name])]
        lightness, a, b = linear_srgb_to_lab(linear)
        grid += bytes((round(lightness * 255 / 100), round(a + 128), round(b + 128)))
    ramp = bytes(range(256))
    identity = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut = b"mft1\0\0\0\0" + bytes((4, 3, 2, 0)) + identity + ramp * 4 + grid + ramp * 3
    return icc_profile(b"prtr", b"CMYK", b"Lab ", {b"A2B0": lut})


def srgb_to_linear(value: float) -> float:
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def linear_to_srgb(value: float) -> float:
    value = min(1.0, max(0.0, value))
    return 12.92 * value if value <= 0.0031308 else 1.055 * value ** (1 / 2.4) - 0.055


def _columns(colorants):
    return [[colorants[j][i] for j in range(3)] for i in range(3)]


def _times(matrix, vector):
    return [sum(matrix[i][j] * vector[j] for j in range(3)) for i in range(3)]


def _inverse(m):
    (a, b, c), (d, e, f), (g, h, i) = m
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    cofactors = [
        [e * i - f * h, c * h - b * i, b * f - c * e],
        [f * g - d * i, a * i - c * g, c * d - a * f],
        [d * h - e * g, b * g - a * h, a * e - b * d],
    ]
    return [[value / det for value in row] for row in cofactors]


def to_srgb(colorants, linear_rgb) -> tuple[int, int, int]:
    """The sRGB colour of linear RGB in the space of `colorants`, through D50 XYZ."""
    xyz = _times(_columns(colorants), linear_rgb)
    return tuple(round(linear_to_srgb(v) * 255) for v in _times(_inverse(_columns(SRGB)), xyz))


def linear_srgb_to_lab(linear) -> tuple[float, float, float]:
    x, y, z = (v / w for v, w in zip(_times(_columns(SRGB), linear), D50))
    f = [t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])
