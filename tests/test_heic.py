"""HEIC, as phones save it, read by the shipped decoder (pi-heif): turned once, in sRGB, 10-bit
and alpha handled, the primary image alone, no metadata out, bounded by its header."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from app.imaging import ImageRejected, Options, make_renditions
from app.imaging_formats import identify
from tests import heic, images
from tests.images import BLUE, GREEN, RED, YELLOW, close, decode

ROOT = Path(__file__).resolve().parent.parent
PNG_OUT = Options(output_format="png")
THUMB = [("thumb", 256)]


def only(data: bytes, options: Options = PNG_OUT, side: int = 256) -> Image.Image:
    [rendition] = make_renditions(data, [("thumb", side)], options)
    return decode(rendition.data)


def read(data: bytes) -> Image.Image:
    """Decode a HEIC with the shipped decoder, as the engine opens it."""
    image = identify(data)
    image.load()
    return image


def test_the_shipped_decoder_reads_heic_whatever_else_registered_an_opener():
    data = heic.heic(images.quadrants((160, 80)))
    with heic.encoders_opener():
        assert Image.OPEN["HEIF"][0].__module__.startswith("pillow_heif")
        source = identify(data)
        assert type(source).__module__ == "pi_heif.as_plugin" and source.format == "HEIF"
        image = only(data)
    for got, expected in zip(images.quadrant_colours(image), [RED, GREEN, BLUE, YELLOW]):
        assert close(got, expected, 12), (got, expected)


def test_a_heic_turned_by_irot_and_by_exif_orientation_6_comes_out_turned_once():
    # As a phone saves a portrait photo: the pixels coded on their side, an irot box that turns
    # them a quarter, and EXIF Orientation 6 saying the same thing again.
    exif = Image.Exif()
    exif[0x0112] = 6
    scene = images.quadrants((160, 80))
    scene.info["exif"] = exif.tobytes()
    data = heic.heic(scene)
    quarters = heic.rotation(data)
    assert quarters in (1, 3)
    assert identify(data).info["original_orientation"] == 6  # the file's own EXIF says 6
    coded = read(heic.with_rotation(data, 0))  # the pixels as stored, never turned
    turned_once = heic.quarter_turned(coded, quarters)

    image = only(data)

    assert image.size == turned_once.size == (coded.height, coded.width)
    for got, expected in zip(
        images.quadrant_colours(image), images.quadrant_colours(turned_once), strict=True
    ):
        assert close(got, expected, 12), (got, expected)


def test_a_heic_of_tiles_as_phones_write_it_converts_whole():
    data = heic.heic(images.quadrants((1200, 800)), tile_size=256)
    assert b"grid" in data  # 5 × 4 tiles, joined by libheif
    thumb, preview = make_renditions(data, [("thumb", 256), ("preview", 1024)], PNG_OUT)
    for rendition in (thumb, preview):
        image = decode(rendition.data)
        assert image.size == (rendition.width, rendition.height)
        for got, expected in zip(images.quadrant_colours(image), [RED, GREEN, BLUE, YELLOW]):
            assert close(got, expected, 12), (got, expected)


def test_a_display_p3_heic_keeps_its_colour_in_srgb():
    colour = (180, 40, 160)
    source = Image.new("RGB", (64, 64), colour)
    source.info["icc_profile"] = images.rgb_profile(images.DISPLAY_P3)
    expected = images.to_srgb(images.DISPLAY_P3, [images.srgb_to_linear(v / 255) for v in colour])
    assert not close(expected, colour, 12)

    image = only(heic.heic(source, quality=100))

    assert close(image.getpixel((32, 32)), expected, 6), (image.getpixel((32, 32)), expected)


def test_a_10_bit_heic_becomes_8_bit_with_its_colour():
    data = heic.heic_10_bit((64, 48), (200 * 257, 100 * 257, 30 * 257))
    assert identify(data).info["bit_depth"] == 10
    image = only(data)
    assert image.mode == "RGB" and close(image.getpixel((32, 24)), (200, 100, 30), 4)


def test_a_heic_with_alpha_keeps_its_transparency():
    source = Image.new("RGBA", (400, 200), (*BLUE, 255))
    source.paste((0, 0, 0, 0), (0, 0, 200, 200))
    [thumb, lossless] = make_renditions(heic.heic(source), THUMB)
    image = decode(thumb.data)
    assert (image.format, image.mode, lossless.content_type) == ("WEBP", "RGBA", "image/png")
    assert image.getpixel((40, 64))[3] == 0
    assert close(image.getpixel((200, 64)), (*BLUE, 255), 8)


def test_only_the_primary_image_of_a_heic_is_read():
    red, blue = Image.new("RGB", (120, 80), RED), Image.new("RGB", (120, 80), BLUE)
    data = heic.heic_of([red, blue], primary=1)
    assert identify(data).n_frames == 2
    renditions = make_renditions(data, [("thumb", 64), ("preview", 256)])
    assert len(renditions) == 2
    for rendition in renditions:
        assert close(decode(rendition.data).convert("RGB").getpixel((10, 10)), BLUE, 8)


def test_no_exif_gps_or_xmp_of_a_heic_reaches_an_output():
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    source = images.quadrants((600, 400))
    source.info["exif"] = exif.tobytes()
    source.info["xmp"] = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    data = heic.heic(source)
    assert b"PhoneMaker" in data and b"xmpmeta" in data
    for options in (Options(), PNG_OUT, Options(output_format="webp")):
        for rendition in make_renditions(data, [("thumb", 64), ("preview", 1024)], options):
            assert not decode(rendition.data).getexif()
            for marker in (b"Exif", b"PhoneMaker", b"xmpmeta", b"ICC_PROFILE"):
                assert marker not in rendition.data


def test_a_heic_no_larger_than_a_rendition_comes_out_pixel_identical():
    data = heic.heic(images.photo_with_alpha((200, 150)).convert("RGB"), quality=80)
    decoded = read(data).convert("RGB")
    [rendition] = make_renditions(data, THUMB)
    assert rendition.content_type == "image/webp"
    assert ImageChops.difference(decode(rendition.data).convert("RGB"), decoded).getbbox() is None


@pytest.mark.parametrize(
    "make, code, words",
    [
        (lambda d: d[: len(d) // 2], "corrupt", "HEIC"),
        (lambda d: d[:200], "corrupt", "HEIC"),
        (lambda d: d[:32] + b"\xff" * (len(d) - 32), "corrupt", "HEIC"),
        (lambda d: b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64, "corrupt", "HEIC"),
        (lambda d: b"\xff\xff\xff\xffftypheic" + d[12:], "corrupt", "HEIC"),  # ftyp past the end
        (lambda d: b"\0\0\0\0ftypheic" + d[12:], "corrupt", "HEIC"),  # size 0: to the end
        (lambda d: heic.declaring(d, 64, 48), "corrupt", "HEIC"),  # coded larger than declared
        (lambda d: heic.declaring(d, 40000, 40000), "too_large", "40000×40000"),
        (lambda d: b"\0\0\0\x14ftypmif1\0\0\0\0mif1" + d[28:], "unsupported_format", "HEIF"),
    ],
    ids=[
        "truncated",
        "header alone",
        "data overwritten",
        "brand alone",
        "ftyp size past the end",
        "ftyp size 0",
        "declared smaller than coded",
        "declared 40000×40000",
        "no HEVC brand",
    ],
)
def test_a_damaged_or_hostile_heic_is_refused_with_its_code(make, code, words):
    data = make(heic.heic(images.quadrants((512, 384))))
    with pytest.raises(ImageRejected) as refused:
        make_renditions(data, THUMB)
    assert refused.value.code == code and words in refused.value.message


CONVERT_IN_FRESH_PROCESS = """
import json, sys
from app.imaging import make_renditions
def peak():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
data = open(sys.argv[1], "rb").read()
before = peak()
try:
    made = [r.content_type for r in make_renditions(data, [("thumb", 256)])]
except Exception as error:
    made = getattr(error, "code", type(error).__name__)
print(json.dumps({
    "made": made,
    "grew_kb": peak() - before,
    "modules": sorted(m for m in sys.modules if "heif" in m.lower()),
}))
"""


def convert_in_fresh_process(tmp_path, data: bytes) -> dict:
    path = tmp_path / "upload"
    path.write_bytes(data)
    command = [sys.executable, "-c", CONVERT_IN_FRESH_PROCESS, str(path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    "fmt, params",
    [("JPEG", {}), ("PNG", {}), ("AVIF", {"quality": 90})],
)
def test_other_formats_never_load_libheif(tmp_path, fmt, params):
    converted = convert_in_fresh_process(tmp_path, images.encode(images.quadrants(), fmt, **params))
    assert converted["made"] and converted["modules"] == []


def test_a_heic_loads_the_shipped_decoder_and_never_the_encoder(tmp_path):
    converted = convert_in_fresh_process(tmp_path, heic.heic(images.quadrants((320, 240))))
    assert converted["made"] == ["image/jpeg"]
    assert "pi_heif" in converted["modules"] and "_pi_heif" in converted["modules"]
    assert not [m for m in converted["modules"] if "pillow_heif" in m]


def test_refusing_a_heic_declaring_40000_by_40000_keeps_memory_small(tmp_path):
    data = heic.declaring(heic.heic(images.quadrants((512, 384))), 40000, 40000)
    converted = convert_in_fresh_process(tmp_path, data)
    assert converted["made"] == "too_large"
    assert converted["grew_kb"] < 16 * 1024  # decoding would need 6.4 GB
