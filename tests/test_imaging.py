"""The conversion engine, bytes in and bytes out: what a person would see in each rendition."""

from __future__ import annotations

import json
import logging
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageStat

from app.imaging import ImageRejected, Options, Rendition, Renditions, make_renditions
from tests import images
from tests.images import BLUE, GREEN, RED, YELLOW, close, decode, encode

THUMB = [("thumb", 256)]
PNG_OUT, JPEG_OUT, WEBP_OUT = (
    Options(output_format="png"),
    Options(output_format="jpeg"),
    Options(output_format="webp"),
)
# How a camera stored an upright scene for each EXIF orientation (from the meaning of the tag).
STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def only(data: bytes, options: Options | None = None, side: int = 256) -> Image.Image:
    """Make one rendition and return it decoded."""
    [rendition] = make_renditions(data, [("thumb", side)], options)
    return decode(rendition.data)


def _tiff(**params):
    return lambda image, exif: encode(image, "TIFF", exif=exif, **params)


# Every format the engine reads that can say how it is turned, written by its usual encoder.
# Pillow's TIFF plugin turns an image upright as it loads it; the others leave it to the engine.
ORIENTED = {
    "JPEG": lambda image, exif: encode(image, "JPEG", exif=exif, quality=95),
    "MPO": lambda image, exif: encode(
        image, "MPO", exif=exif, quality=95, save_all=True, append_images=[image]
    ),
    "lossless JPEG": lambda image, exif: images.with_exif(images.lossless_jpeg(image), exif),
    "PNG eXIf": lambda image, exif: encode(image, "PNG", exif=exif),
    "WebP": lambda image, exif: encode(image, "WEBP", exif=exif, lossless=True),
    "AVIF irot/imir": lambda image, exif: encode(image, "AVIF", exif=exif, quality=95),
    "TIFF": _tiff(),
    "TIFF LZW": _tiff(compression="tiff_lzw"),
    "TIFF Deflate": _tiff(compression="tiff_adobe_deflate"),
    "TIFF G4": _tiff(compression="group4"),
}
BLACK, WHITE = (0, 0, 0), (255, 255, 255)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ORIENTED)
def test_each_exif_orientation_of_each_format_comes_out_upright(orientation, fmt):
    if fmt == "TIFF G4":  # bilevel: one black quarter tells every turn and flip apart
        scene, colours = images.quadrants(mode="1", colours=(0, 1, 1, 1)), [BLACK] + [WHITE] * 3
    else:
        scene, colours = images.quadrants(), [RED, GREEN, BLUE, YELLOW]
    stored = scene if STORED[orientation] is None else scene.transpose(STORED[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation

    image = only(ORIENTED[fmt](stored, exif), PNG_OUT)

    assert image.size == (80, 40)
    for got, colour in zip(images.quadrant_colours(image), colours):
        assert close(got, colour, 24), (orientation, got, colour)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_exif_orientation_of_a_jpeg_shrunk_on_load_comes_out_upright(orientation):
    scene = images.quadrants((1600, 800))
    stored = scene if STORED[orientation] is None else scene.transpose(STORED[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation

    image = only(encode(stored, "JPEG", exif=exif, quality=95), PNG_OUT)

    assert image.size == (256, 128)
    for got, colour in zip(images.quadrant_colours(image), [RED, GREEN, BLUE, YELLOW]):
        assert close(got, colour, 24), (orientation, got, colour)


@pytest.mark.parametrize(
    "colorants, gamma, colour",
    [(images.ADOBE_RGB, 563 / 256, (200, 40, 40)), (images.DISPLAY_P3, None, (180, 40, 160))],
    ids=["Adobe RGB", "Display P3"],
)
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_saturated_colour_in_a_wide_gamut_image_keeps_its_colour_in_srgb(
    colorants, gamma, colour, fmt
):
    profile = images.rgb_profile(colorants, gamma)
    data = encode(
        Image.new("RGB", (64, 64), colour),
        fmt,
        icc_profile=profile,
        **({"quality": 100} if fmt == "JPEG" else {}),
    )
    to_linear = (lambda v: v**gamma) if gamma else images.srgb_to_linear
    expected = images.to_srgb(colorants, [to_linear(v / 255) for v in colour])
    assert not close(expected, colour, 12)  # the test means something only if the spaces differ

    image = only(data, PNG_OUT)

    assert close(image.getpixel((32, 32)), expected, 3), (image.getpixel((32, 32)), expected)


def test_an_srgb_profile_leaves_colours_as_they_are():
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = only(
        encode(Image.new("RGB", (32, 32), (200, 40, 40)), "PNG", icc_profile=srgb), PNG_OUT
    )
    assert image.getpixel((16, 16)) == (200, 40, 40)


def test_a_damaged_profile_is_ignored_and_the_image_still_converts():
    image = only(
        encode(Image.new("RGB", (32, 32), (200, 40, 40)), "PNG", icc_profile=b"not a profile"),
        PNG_OUT,
    )
    assert image.getpixel((16, 16)) == (200, 40, 40)


INKS = {"C": (0, 158, 224), "M": (226, 0, 116), "Y": (255, 237, 0), "K": (35, 31, 32)}


@pytest.mark.parametrize(
    "cmyk, expected",
    [((255, 0, 0, 0), INKS["C"]), ((0, 255, 0, 0), INKS["M"]), ((0, 0, 0, 0), (255, 255, 255))],
)
def test_a_cmyk_jpeg_becomes_rgb_through_its_embedded_profile(cmyk, expected):
    data = encode(
        Image.new("CMYK", (64, 64), cmyk),
        "JPEG",
        quality=100,
        icc_profile=images.cmyk_profile(INKS),
    )

    image = only(data, PNG_OUT)

    assert image.mode == "RGB"
    assert close(image.getpixel((32, 32)), expected, 8), image.getpixel((32, 32))


def test_a_cmyk_jpeg_without_a_profile_still_becomes_rgb():
    image = only(encode(Image.new("CMYK", (64, 64), (255, 0, 0, 0)), "JPEG", quality=100), PNG_OUT)
    assert image.mode == "RGB"
    assert close(image.getpixel((32, 32)), (0, 255, 255), 8)


def test_a_16_bit_grey_gradient_is_scaled_not_clipped_to_white():
    gradient = Image.frombytes(
        "I;16", (256, 8), b"".join(v.to_bytes(2, "little") for v in range(0, 65536, 256)) * 8
    )
    image = only(encode(gradient, "PNG"), PNG_OUT).convert("L")
    row = [image.getpixel((x, 4)) for x in range(0, 256, 32)]
    assert row == sorted(row) and row[0] < 8 and 100 < row[4] < 156 and row[-1] > 215, row


def test_a_16_bit_rgb_png_keeps_its_colours():
    colour16 = (50000, 10000, 30000)
    row = b"\0" + b"".join(v.to_bytes(2, "big") for v in colour16) * 16
    image = only(images.png(16, 16, 16, 2, row * 16), PNG_OUT)
    assert close(image.getpixel((8, 8)), [v // 257 for v in colour16], 1)


@pytest.mark.parametrize("mode, value, expected", [("I", 40000, 156), ("F", 0.5, 128)])
def test_32_bit_tiffs_are_scaled(mode, value, expected):
    image = only(encode(Image.new(mode, (16, 16), value), "TIFF"), PNG_OUT).convert("L")
    assert abs(image.getpixel((8, 8)) - expected) <= 1


def test_a_palette_image_with_transparency_keeps_it():
    source = Image.new("P", (40, 20), 0)
    source.putpalette([*RED, *BLUE] + [0] * 762)
    source.paste(1, (20, 0, 40, 20))
    image = only(encode(source, "PNG", transparency=1), PNG_OUT)
    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.getpixel((5, 10)) == (*RED, 255)
    assert image.getpixel((35, 10))[3] == 0


def test_an_la_image_keeps_grey_and_alpha():
    source = Image.merge(
        "LA", [Image.new("L", (40, 20), 90), Image.linear_gradient("L").resize((40, 20))]
    )
    image = only(encode(source, "PNG"), PNG_OUT)
    assert image.format == "PNG"
    top, bottom = image.convert("LA").getpixel((20, 2)), image.convert("LA").getpixel((20, 17))
    assert abs(top[0] - 90) <= 1 and abs(bottom[0] - 90) <= 1
    assert top[1] < 40 and bottom[1] > 200  # the alpha gradient runs from top to bottom


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_an_animation_gives_its_first_frame(fmt):
    frames = [Image.new("RGB", (40, 30), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    image = only(data, PNG_OUT)
    assert close(image.getpixel((20, 15)), RED, 12)


def half_transparent_red() -> bytes:
    image = Image.new("RGBA", (40, 20), (*RED, 128))
    image.paste((*RED, 0), (0, 0, 10, 20))
    return encode(image, "PNG")


@pytest.mark.parametrize(
    "options, fmt", [(Options(), "WEBP"), (PNG_OUT, "PNG"), (WEBP_OUT, "WEBP")]
)
def test_transparency_survives_in_png_and_webp(options, fmt):
    image = decode(make_renditions(half_transparent_red(), THUMB, options)[0].data)
    assert image.format == fmt and image.mode == "RGBA"
    assert image.getpixel((5, 10))[3] == 0
    assert close(image.getpixel((30, 10)), (*RED, 128), 3)


@pytest.mark.parametrize("background", [(255, 255, 255), (0, 0, 255)])
def test_transparency_is_flattened_onto_the_background_in_jpeg(background):
    image = only(half_transparent_red(), Options(output_format="jpeg", background=background))
    assert image.format == "JPEG" and image.mode == "RGB"
    assert close(image.getpixel((3, 10)), background, 6)
    blend = [round(r * 128 / 255 + b * 127 / 255) for r, b in zip(RED, background)]
    assert close(image.getpixel((30, 10)), blend, 6)


def test_auto_picks_jpeg_for_an_opaque_image_even_with_an_alpha_channel():
    image = only(encode(Image.new("RGBA", (400, 200), (*BLUE, 255)), "PNG"))
    assert image.format == "JPEG"
    assert close(image.getpixel((128, 64)), BLUE, 6)


@pytest.mark.parametrize("options", [PNG_OUT, WEBP_OUT], ids=["png", "webp"])
def test_an_opaque_alpha_channel_is_dropped(options):
    image = only(encode(Image.new("RGBA", (40, 20), (*BLUE, 255)), "PNG"), options)
    assert image.mode == "RGB"
    assert close(image.getpixel((20, 10)), BLUE, 6)


def phone_photo() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0132] = "2024:05:01 12:00:00"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    return encode(images.quadrants((300, 200)), "JPEG", exif=exif, xmp=xmp, comment=b"secret place")


@pytest.mark.parametrize("options", [Options(), PNG_OUT, WEBP_OUT], ids=["jpeg", "png", "webp"])
def test_no_exif_gps_xmp_or_comment_reaches_an_output(options):
    assert decode(phone_photo()).getexif().get_ifd(0x8825)  # the source has a location
    for rendition in make_renditions(phone_photo(), [("thumb", 64), ("preview", 1024)], options):
        image = decode(rendition.data)
        assert not image.getexif()
        assert not {"exif", "xmp", "XML:com.adobe.xmp", "comment", "icc_profile"} & set(image.info)
        for marker in (b"Exif", b"PhoneMaker", b"secret place", b"xmpmeta", b"ICC_PROFILE"):
            assert marker not in rendition.data


def png_declaring(width: int, height: int) -> bytes:
    return images.png(width, height, 8, 2, b"\0" * 1024)


@pytest.mark.parametrize(
    "data", [png_declaring(40000, 40000), images.jpeg_declaring(40000, 40000)], ids=["png", "jpeg"]
)
def test_a_small_file_declaring_40000_by_40000_is_refused_by_its_header(data):
    assert len(data) < 2000
    with pytest.raises(ImageRejected) as refused:
        make_renditions(data, THUMB)
    assert refused.value.code == "too_large"
    assert "40000×40000" in refused.value.message and "100 megapixels" in refused.value.message


REFUSE_IN_FRESH_PROCESS = """
import json, sys
from app.imaging import ImageRejected, make_renditions
from tests.images import jpeg_declaring, png
def peak():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
sources = [png(40000, 40000, 8, 2, b"\\0" * 1024), jpeg_declaring(40000, 40000)]
before = peak()
codes = []
for data in sources:
    try:
        make_renditions(data, [("thumb", 256)])
    except ImageRejected as error:
        codes.append(error.code)
print(json.dumps({"codes": codes, "grew_kb": peak() - before}))
"""


def test_refusing_a_40000_by_40000_header_keeps_memory_small():
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", REFUSE_IN_FRESH_PROCESS],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["codes"] == ["too_large", "too_large"]
    assert result["grew_kb"] < 8 * 1024  # decoding would need 4.8 GB


def test_the_limit_is_the_deployments_own():
    data = encode(Image.new("RGB", (200, 100)), "PNG")
    with pytest.raises(ImageRejected) as refused:
        make_renditions(data, THUMB, Options(max_pixels=10_000))
    assert refused.value.code == "too_large" and "200×100" in refused.value.message
    assert make_renditions(data, THUMB, Options(max_pixels=20_000))


def test_pillows_own_decompression_bomb_checks_never_escape(monkeypatch):
    frames = [Image.new("RGB", (100, 100), colour) for colour in (RED, GREEN)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's limit far below ours
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's warning must not escape either
        [rendition] = make_renditions(data, THUMB, PNG_OUT)
    monkeypatch.undo()
    assert close(decode(rendition.data).getpixel((50, 50)), RED, 12)


def test_a_gif_frame_beyond_its_screen_past_pillows_limit_is_refused(monkeypatch):
    data = bytearray(encode(Image.new("RGB", (100, 100), RED), "GIF"))
    data[6:10] = (10).to_bytes(2, "little") * 2  # a 10×10 screen around a 100×100 frame
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageRejected) as refused:
        make_renditions(bytes(data), THUMB)
    assert refused.value.code == "too_large"


def truncated_jpeg() -> bytes:
    data = encode(images.quadrants((400, 300)), "JPEG", quality=95)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "data, code, named",
    [
        (truncated_jpeg(), "corrupt", "JPEG"),
        (encode(images.quadrants(), "PNG")[:-40], "corrupt", "PNG"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 100, "corrupt", "JPEG"),
        (b"", "not_an_image", "empty"),
        (
            b"Dear visitor,\nthis is plain text, not a picture.\n" * 20,
            "not_an_image",
            "not an image",
        ),
        (
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="9"/>',
            "unsupported_format",
            "SVG",
        ),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><rect/></svg>", "unsupported_format", "SVG"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "unsupported_format", "PDF"),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64, "corrupt", "HEIC"),
        (b"\0\0\0\x14ftypmif1\0\0\0\0mif1" + b"\0" * 64, "unsupported_format", "HEIF"),
        (b"8BPS\0\x01" + b"\0" * 64, "unsupported_format", "PSD"),
        (b"RIFF\x24\0\0\0WAVEfmt " + b"\0" * 64, "not_an_image", "not an image"),
    ],
    ids=[
        "truncated JPEG",
        "truncated PNG",
        "garbage JPEG",
        "zero bytes",
        "text",
        "SVG",
        "bare SVG",
        "PDF",
        "HEIC header alone",
        "HEIF of another codec",
        "PSD",
        "WAV",
    ],
)
def test_what_is_not_a_readable_image_is_refused_with_its_code(data, code, named):
    with pytest.raises(ImageRejected) as refused:
        make_renditions(data, THUMB)
    assert refused.value.code == code
    assert named in refused.value.message
    assert refused.value.message.endswith(".")


def test_a_file_starting_like_a_jpeg_but_broken_after_two_bytes_is_a_damaged_jpeg():
    with pytest.raises(ImageRejected) as refused:
        make_renditions(b"\xff\xd8" + b"Dear visitor, this is not what it seems." * 4, THUMB)
    assert refused.value.code == "corrupt"
    assert refused.value.message == "This JPEG file is damaged and cannot be read."


def hierarchical_jpeg() -> bytes:
    """A JPEG whose frame header declares the hierarchical process, which libjpeg does not read;
    no encoder at hand writes a real one."""
    data = bytearray(encode(images.quadrants(), "JPEG"))
    data[data.index(b"\xff\xc0") + 1] = 0xC5
    return bytes(data)


@pytest.mark.parametrize(
    "make, kind",
    [
        (lambda: images.jpeg_12_bit(images.quadrants()), "12-bit JPEG"),
        (lambda: images.lossless_jpeg(images.quadrants(), bits=12), "12-bit lossless JPEG"),
        (lambda: images.lossless_jpeg(images.quadrants().convert("L"), 16), "16-bit lossless JPEG"),
        (hierarchical_jpeg, "Hierarchical JPEG"),
    ],
    ids=["12-bit", "12-bit lossless", "16-bit lossless", "hierarchical"],
)
def test_a_valid_jpeg_of_a_kind_pillow_cannot_read_is_refused_as_not_supported(make, kind):
    with pytest.raises(ImageRejected) as refused:
        make_renditions(make(), THUMB)
    assert refused.value.code == "unsupported_format"
    assert refused.value.message.startswith(f"{kind} files are not supported. ")
    assert "8-bit JPEG" in refused.value.message  # what to do instead
    assert "damaged" not in refused.value.message


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize(
    "source, specs",
    [
        ((512, 256), [("thumb", 256)]),
        ((512, 256), [("thumb", 64)]),
        ((512, 256), [("thumb", 256), ("preview", 1024)]),
        ((2048, 1024), [("thumb", 256), ("preview", 1024)]),
        ((200, 100), [("thumb", 256), ("preview", 1024)]),
    ],
    ids=[
        "twice the thumb",
        "eight times the thumb",
        "thumb and preview",
        "twice the preview",
        "smaller than both",
    ],
)
def test_a_lossless_jpeg_converts_at_every_rendition_size(mode, source, specs):
    scene = images.quadrants(source).convert(mode)
    data = images.lossless_jpeg(scene)
    assert b"\xff\xc3" in data  # its frame header: SOF3, lossless

    renditions = make_renditions(data, specs, PNG_OUT)

    for rendition, (_, side) in zip(renditions, specs, strict=True):
        image = decode(rendition.data)
        expected = min(side, source[0])
        assert image.size == (expected, expected // 2)
        for got, colour in zip(images.quadrant_colours(image), images.quadrant_colours(scene)):
            assert close(got, colour, 2), (got, colour)


def apng_with_a_bad_frame_count() -> bytes:
    acTL = (b"acTL", struct.pack(">II", 0, 0))  # zero frames: Pillow warns, reads the still image
    return images.png(8, 8, 8, 2, (b"\0" + bytes(RED) * 8) * 8, chunks=[acTL])


def jpeg_with_an_exif_tag_larger_than_the_file() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = "a description" * 8
    body = bytearray(exif.tobytes())
    entry = body.index(struct.pack(">H", 0x010E))
    body[entry + 4 : entry + 8] = struct.pack(">I", 10**6)  # its count, now a megabyte
    return encode(images.quadrants(), "JPEG", exif=bytes(body))


@pytest.mark.parametrize(
    "make, message",
    [
        (apng_with_a_bad_frame_count, "Invalid APNG, will use default PNG image if possible"),
        (jpeg_with_an_exif_tag_larger_than_the_file, "Tag data larger than file. Skipping tag 270"),
    ],
    ids=["APNG", "EXIF"],
)
def test_pillows_warnings_are_kept_with_the_renditions_and_none_escapes(make, message, caplog):
    data = make()
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        renditions = make_renditions(data, [("thumb", 256), ("preview", 1024)], PNG_OUT)
        again = make_renditions(data, THUMB, PNG_OUT)

    assert isinstance(renditions, Renditions) and isinstance(renditions, list)
    assert len(renditions) == 2
    assert renditions.warnings == (message,) and again.warnings == (message,)
    assert [str(warning.message) for warning in escaped] == []
    assert [record.getMessage() for record in caplog.records] == []


def test_a_clean_file_has_no_warnings_and_pillows_debug_logs_stay_quiet(caplog):
    sources = [encode(images.quadrants(), "PNG"), encode(images.quadrants(), "TIFF")]
    caplog.set_level(logging.DEBUG)  # Pillow logs every PNG chunk and TIFF tag at this level
    for data in sources:
        assert make_renditions(data, THUMB).warnings == ()
    assert caplog.records == []
    assert logging.getLogger("PIL").propagate  # left as it was found


def test_a_warning_pillow_logs_is_kept_with_the_renditions(monkeypatch, caplog):
    from PIL import PngImagePlugin

    read_header = PngImagePlugin.PngStream.chunk_IHDR

    def read_header_and_complain(stream, pos, length):
        logging.getLogger("PIL.PngImagePlugin").warning("Odd header at %d", pos)
        return read_header(stream, pos, length)

    monkeypatch.setattr(PngImagePlugin.PngStream, "chunk_IHDR", read_header_and_complain)
    renditions = make_renditions(encode(images.quadrants(), "PNG"), THUMB)
    assert renditions.warnings == ("Odd header at 16",)
    assert caplog.records == []


def test_a_tiff_pillow_logs_an_error_for_is_refused_and_nothing_is_logged(caplog):
    data = bytearray(encode(Image.new("RGB", (8, 8), RED), "TIFF"))
    entry = data.index(struct.pack("<HHI", 0x0115, 3, 1))  # SamplesPerPixel: one SHORT
    data[entry + 8 : entry + 10] = struct.pack("<H", 9999)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ImageRejected) as refused:
        make_renditions(bytes(data), THUMB)
    assert refused.value.code == "corrupt"
    assert caplog.records == []


def transparent_photo(size=(1200, 800)) -> bytes:
    return encode(images.photo_with_alpha(size), "PNG")


def test_a_transparent_photo_becomes_webp_with_a_lossless_png_of_the_largest_size():
    specs = [("thumb", 256), ("preview", 1024), ("large", 1024)]
    renditions = make_renditions(transparent_photo(), specs)

    assert [(r.name, r.content_type, r.extension, r.shown) for r in renditions] == [
        ("thumb", "image/webp", "webp", True),
        ("preview", "image/webp", "webp", True),
        ("large", "image/webp", "webp", True),
        ("preview-lossless", "image/png", "png", False),  # the first spec of the largest side
    ]
    thumb, preview, _, lossless = renditions
    assert (thumb.width, thumb.height) == (256, 171)
    assert (preview.width, preview.height) == (lossless.width, lossless.height) == (1024, 683)
    assert decode(lossless.data).size == decode(preview.data).size == (1024, 683)
    assert len(preview.data) <= 0.25 * len(lossless.data)


def test_a_transparent_webp_keeps_the_edges_of_its_transparency():
    renditions = make_renditions(transparent_photo((900, 600)), [("preview", 600)])
    [webp, png] = [decode(r.data) for r in renditions]
    assert webp.format == "WEBP" and webp.mode == "RGBA" and png.mode == "RGBA"

    alpha_webp, alpha_png = webp.getchannel("A"), png.getchannel("A")
    assert ImageChops.difference(alpha_webp, alpha_png).getextrema()[1] <= 2
    assert alpha_png.getextrema() == (0, 255) and 0 < alpha_png.getpixel((300, 88)) < 255
    # Where it is opaque, the colour is the lossless one within what lossy coding changes.
    opaque = alpha_png.point(lambda v: 255 if v == 255 else 0)
    difference = ImageChops.difference(webp.convert("RGB"), png.convert("RGB"))
    mean = ImageStat.Stat(difference.convert("L"), mask=opaque).mean[0]
    assert mean < 6, mean


@pytest.mark.parametrize("options", [PNG_OUT, WEBP_OUT, JPEG_OUT], ids=["png", "webp", "jpeg"])
def test_an_explicit_format_gives_no_extra_rendition(options):
    renditions = make_renditions(transparent_photo((300, 200)), [("thumb", 64), ("preview", 256)])
    assert len(renditions) == 3
    renditions = make_renditions(
        transparent_photo((300, 200)), [("thumb", 64), ("preview", 256)], options
    )
    assert [r.name for r in renditions] == ["thumb", "preview"]
    assert all(r.shown for r in renditions)


@pytest.mark.parametrize(
    "source",
    [
        encode(images.quadrants((400, 300)), "JPEG"),
        encode(Image.new("RGBA", (400, 300), BLUE), "PNG"),
    ],
    ids=["JPEG", "opaque RGBA PNG"],
)
def test_an_opaque_photo_stays_jpeg_without_an_extra_rendition(source):
    renditions = make_renditions(source, [("thumb", 64), ("preview", 256)])
    assert [(r.name, r.content_type, r.shown) for r in renditions] == [
        ("thumb", "image/jpeg", True),
        ("preview", "image/jpeg", True),
    ]


def test_a_transparent_grey_image_becomes_webp_and_a_grey_lossless_png():
    source = Image.merge(
        "LA", [Image.new("L", (400, 200), 90), Image.linear_gradient("L").resize((400, 200))]
    )
    webp, png = make_renditions(encode(source, "PNG"), THUMB)
    assert (webp.content_type, png.name, png.content_type) == (
        "image/webp",
        "thumb-lossless",
        "image/png",
    )
    assert decode(png.data).mode == "LA"
    assert close(decode(webp.data).getpixel((128, 112)), (90, 90, 90, 224), 12)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF"])
def test_each_accepted_format_is_read_from_its_bytes(fmt):
    data = encode(
        images.quadrants((80, 40)),
        fmt,
        **({"quality": 95} if fmt in ("JPEG", "WEBP", "AVIF") else {}),
    )
    image = only(data, PNG_OUT)
    for got, expected in zip(images.quadrant_colours(image), [RED, GREEN, BLUE, YELLOW]):
        assert close(got, expected, 40), (fmt, got, expected)


@pytest.mark.parametrize(
    "source, specs, expected",
    [
        ((4000, 3000), [("thumb", 256), ("preview", 1024)], [(256, 192), (1024, 768)]),
        ((3000, 4000), [("preview", 1024), ("thumb", 256)], [(768, 1024), (192, 256)]),
        ((100, 50), [("thumb", 256), ("preview", 1024)], [(100, 50), (100, 50)]),
        ((300, 200), [("thumb", 256), ("preview", 1024)], [(256, 171), (300, 200)]),
        ((1, 3000), [("thumb", 256)], [(1, 256)]),
        ((3000, 1), [("thumb", 256)], [(256, 1)]),
    ],
)
def test_renditions_are_never_larger_than_the_source_or_than_asked(source, specs, expected):
    renditions = make_renditions(encode(Image.new("RGB", source, BLUE), "JPEG"), specs)
    assert [(r.name, r.width, r.height) for r in renditions] == [
        (n, *size) for (n, _), size in zip(specs, expected)
    ]
    assert [decode(r.data).size for r in renditions] == expected


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 700),
    height=st.integers(1, 700),
    sides=st.lists(st.integers(1, 800), min_size=1, max_size=3),
)
def test_any_size_fits_its_box_and_keeps_its_shape(width, height, sides):
    specs = [(f"r{i}", side) for i, side in enumerate(sides)]
    for rendition, side in zip(
        make_renditions(encode(Image.new("RGB", (width, height), GREEN), "PNG"), specs), sides
    ):
        assert rendition.width <= min(side, width) or rendition.width == 1
        assert rendition.height <= min(side, height) or rendition.height == 1
        assert max(rendition.width, rendition.height) == min(side, max(width, height))
        scale = min(1.0, side / max(width, height))
        assert (rendition.width, rendition.height) == (
            max(1, round(width * scale)),
            max(1, round(height * scale)),
        )
        assert decode(rendition.data).size == (rendition.width, rendition.height)


def test_a_large_jpeg_photo_gives_every_rendition_with_its_type():
    renditions = make_renditions(
        encode(images.quadrants((4000, 3000)), "JPEG"), [("thumb", 256), ("preview", 1024)]
    )
    assert [(r.name, r.content_type, r.extension) for r in renditions] == [
        ("thumb", "image/jpeg", "jpg"),
        ("preview", "image/jpeg", "jpg"),
    ]
    for rendition in renditions:
        assert isinstance(rendition, Rendition)
        for got, expected in zip(
            images.quadrant_colours(decode(rendition.data)), [RED, GREEN, BLUE, YELLOW]
        ):
            assert close(got, expected, 12)


@pytest.mark.parametrize(
    "options, content_type, extension",
    [
        (PNG_OUT, "image/png", "png"),
        (WEBP_OUT, "image/webp", "webp"),
        (JPEG_OUT, "image/jpeg", "jpg"),
    ],
)
def test_the_output_format_is_configurable(options, content_type, extension):
    [rendition] = make_renditions(encode(Image.new("L", (50, 50), 128), "PNG"), THUMB, options)
    assert (rendition.content_type, rendition.extension) == (content_type, extension)
    assert abs(decode(rendition.data).convert("L").getpixel((25, 25)) - 128) <= 2


@pytest.mark.parametrize(
    "arguments",
    [
        {"output_format": "gif"},
        {"quality": 0},
        {"quality": 101},
        {"background": (0, 0)},
        {"background": (0, 0, 256)},
        {"max_pixels": 0},
    ],
)
def test_a_wrong_option_is_a_configuration_error(arguments):
    with pytest.raises(ValueError):
        Options(**arguments)


@pytest.mark.parametrize("specs", [[], [("thumb", 0)], [("thumb", -5)]])
def test_wrong_specs_are_a_programming_error(specs):
    with pytest.raises(ValueError):
        make_renditions(encode(Image.new("RGB", (10, 10)), "PNG"), specs)


def _noisy_photo(size: tuple[int, int]) -> Image.Image:
    return Image.blend(images.quadrants(size), Image.effect_noise(size, 40).convert("RGB"), 0.5)


@pytest.mark.parametrize("size", [(1024, 768), (256, 192), (64, 48), (1, 1)])
@pytest.mark.parametrize("full_chroma", [False, True])
def test_a_jpeg_rendition_is_the_smaller_of_progressive_and_baseline_with_the_same_pixels(
    size, full_chroma
):
    from app.imaging_output import Encoding
    from app.imaging_output import encode as write

    photo = _noisy_photo(size)
    made = write(photo, Encoding("jpeg", full_chroma=full_chroma), 85)
    chroma = {"subsampling": 0} if full_chroma else {}
    both = {
        kind: encode(photo, "JPEG", quality=85, optimize=True, progressive=kind, **chroma)
        for kind in (False, True)
    }
    assert len(made) == min(map(len, both.values()))
    assert decode(made).info.get("progressive", 0) == (len(both[True]) < len(both[False]))
    # Progressive only reorders the coefficients: it decodes to the baseline's pixels.
    assert ImageChops.difference(decode(made), decode(both[False])).getbbox() is None


def test_a_photos_preview_is_progressive_and_its_tiny_rendition_baseline():
    thumb, preview, tiny = make_renditions(
        encode(_noisy_photo((1600, 1200)), "JPEG", quality=95),
        [("thumb", 256), ("preview", 1024), ("tiny", 64)],
    )
    assert decode(preview.data).info.get("progressive") == 1
    assert "progressive" not in decode(tiny.data).info


def test_each_size_is_written_at_its_own_quality_and_the_rest_at_the_default():
    photo = encode(_noisy_photo((1600, 1200)), "JPEG", quality=95)
    specs = [("thumb", 256), ("preview", 1024)]
    plain = {r.name: r for r in make_renditions(photo, specs, JPEG_OUT)}
    low = Options(output_format="jpeg", qualities={1024: 40})
    own = {r.name: r for r in make_renditions(photo, specs, low)}
    assert own["thumb"].data == plain["thumb"].data  # at `quality`, 85
    assert decode(own["preview"].data).quantization == _tables(40)
    assert decode(plain["preview"].data).quantization == _tables(85)


def test_renditions_sharing_a_size_share_the_higher_quality():
    small = encode(_noisy_photo((200, 150)), "PNG")  # both renditions are the image itself
    options = Options(output_format="jpeg", qualities={256: 90, 1024: 40})
    thumb, preview = make_renditions(small, [("thumb", 256), ("preview", 1024)], options)
    assert thumb.data == preview.data
    assert decode(preview.data).quantization == _tables(90, subsampling=0)


def _tables(quality: int, **params) -> dict:
    """libjpeg's quantization tables at `quality`, as Pillow reads them back."""
    sample = encode(Image.new("RGB", (16, 16)), "JPEG", quality=quality, **params)
    return decode(sample).quantization
