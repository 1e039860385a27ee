"""An image no larger than a rendition is not degraded: it comes out pixel-identical (lossless
WebP, or PNG); JPEG renditions of drawn images keep their colour at every pixel (4:4:4)."""

from __future__ import annotations

import pytest
from PIL import Image, ImageChops, ImageDraw, JpegImagePlugin

from app.imaging import Options, make_renditions
from tests import images
from tests.images import decode, encode

SPECS = [("thumb", 256), ("preview", 1024)]


def icon(size: int = 32) -> Image.Image:
    """A small icon with soft edges on transparency, as icon sets draw them."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((2, 2, size - 3, size - 3), fill=(30, 120, 220, 255), outline=(10, 40, 90, 255))
    draw.rectangle((size // 3, size // 3, 2 * size // 3, 2 * size // 3), fill=(250, 80, 0, 255))
    return image.resize((size - 1, size - 1), Image.Resampling.LANCZOS)  # soft, half-alpha edges


def palette_logo(scale: int = 1) -> Image.Image:
    """A logo of 16 colours at most, 200×80 times `scale`."""
    image = Image.new("RGB", (200 * scale, 80 * scale), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((10 * scale, 30 * scale), "LOGO co.", fill=(200, 30, 30), font_size=10 * scale)
    draw.rectangle((150 * scale, 10 * scale, 190 * scale, 70 * scale), fill=(20, 90, 200))
    return image.quantize(16)


def screenshot(size=(900, 600)) -> Image.Image:
    image = Image.new("RGB", size, (246, 247, 249))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, size[0], 48), fill=(36, 41, 47))
    for y in range(70, size[1] - 20, 22):
        draw.text((24, y), "The quick brown fox jumps over the lazy dog 0123456789", fill=(30,) * 3)
    return image


SOURCES = {
    "RGBA icon PNG": lambda: encode(icon(), "PNG"),
    "palette logo PNG": lambda: encode(palette_logo(), "PNG"),
    "palette logo GIF": lambda: encode(palette_logo(), "GIF"),
    "screenshot PNG": lambda: encode(screenshot(), "PNG"),
    "grey PNG": lambda: encode(Image.linear_gradient("L").resize((300, 200)), "PNG"),
    "grey and alpha PNG": lambda: encode(icon(64).convert("LA"), "PNG"),
    "photo JPEG": lambda: encode(images.photo_with_alpha((300, 200)).convert("RGB"), "JPEG"),
    "photo WebP": lambda: encode(images.photo_with_alpha((300, 200)), "WEBP", quality=70),
    "BMP": lambda: encode(screenshot((200, 120)), "BMP"),
    "TIFF": lambda: encode(palette_logo().convert("RGB"), "TIFF"),
}


def as_decoded(data: bytes) -> Image.Image:
    """Return the upload's pixels as a viewer sees them: RGBA, every alpha-0 pixel alike."""
    return _visible(decode(data))


def _visible(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    clear = rgba.getchannel("A").point(lambda a: 255 if a == 0 else 0)
    rgba.paste((0, 0, 0, 0), mask=clear)
    return rgba


@pytest.mark.parametrize(
    "options", [Options(), Options(output_format="webp")], ids=["auto", "webp"]
)
@pytest.mark.parametrize("source", SOURCES)
def test_a_source_no_larger_than_a_rendition_comes_out_pixel_identical(source, options):
    data = SOURCES[source]()
    renditions = make_renditions(data, SPECS, options)
    assert [r.name for r in renditions] == ["thumb", "preview"]  # no extra lossless PNG
    preview = renditions[1]
    assert preview.content_type == "image/webp"
    assert ImageChops.difference(as_decoded(preview.data), as_decoded(data)).getbbox() is None


@pytest.mark.parametrize("source", ["RGBA icon PNG", "palette logo GIF", "photo JPEG"])
def test_png_output_of_a_small_source_is_pixel_identical_too(source):
    data = SOURCES[source]()
    [thumb] = make_renditions(data, [("thumb", 256)], Options(output_format="png"))
    assert ImageChops.difference(as_decoded(thumb.data), as_decoded(data)).getbbox() is None


def test_each_rendition_is_lossless_only_where_the_source_fits_it():
    data = encode(images.quadrants((600, 400)), "JPEG", quality=95)
    thumb, preview = make_renditions(data, SPECS)
    assert (thumb.content_type, thumb.width) == ("image/jpeg", 256)
    assert (preview.content_type, preview.width) == ("image/webp", 600)
    assert ImageChops.difference(as_decoded(preview.data), as_decoded(data)).getbbox() is None


def test_a_small_image_turned_by_exif_is_upright_and_otherwise_untouched():
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = images.quadrants((120, 60))
    data = encode(stored, "PNG", exif=exif)
    [thumb] = make_renditions(data, [("thumb", 256)])
    upright = stored.transpose(Image.Transpose.ROTATE_270)
    assert ImageChops.difference(as_decoded(thumb.data), _visible(upright)).getbbox() is None


def test_a_small_transparent_image_needs_no_extra_png_but_a_shrunk_one_gets_it():
    small = make_renditions(encode(icon(200), "PNG"), SPECS)
    assert [(r.name, r.content_type) for r in small] == [
        ("thumb", "image/webp"),
        ("preview", "image/webp"),
    ]
    shrunk = make_renditions(encode(icon(600), "PNG"), [("thumb", 256)])
    assert [(r.name, r.content_type) for r in shrunk] == [
        ("thumb", "image/webp"),
        ("thumb-lossless", "image/png"),
    ]


def sampling(data: bytes) -> int:
    """Return a JPEG's chroma subsampling: 0 for 4:4:4, 2 for 4:2:0 (Pillow's numbers)."""
    return JpegImagePlugin.get_sampling(decode(data))


@pytest.mark.parametrize(
    "make, full_chroma",
    [
        (lambda: encode(screenshot((1600, 1000)), "PNG"), True),
        (lambda: encode(palette_logo(4), "GIF"), True),
        (lambda: encode(palette_logo(4).convert("RGB"), "WEBP", lossless=True), True),
        (lambda: encode(palette_logo(4).convert("RGB"), "BMP"), True),
        (lambda: encode(images.photo_with_alpha((800, 600)).convert("RGB"), "JPEG"), False),
        (lambda: encode(images.photo_with_alpha((800, 600)).convert("RGB"), "TIFF"), False),
    ],
    ids=["PNG", "GIF", "WebP of 16 colours", "BMP of 16 colours", "JPEG photo", "TIFF photo"],
)
@pytest.mark.parametrize("output_format", ["auto", "jpeg"])
def test_jpeg_renditions_of_drawn_images_keep_full_colour_resolution(
    make, full_chroma, output_format
):
    [thumb] = make_renditions(make(), [("thumb", 256)], Options(output_format=output_format))
    assert thumb.content_type == "image/jpeg"
    assert sampling(thumb.data) == (0 if full_chroma else 2)


def test_thin_red_lines_of_a_drawing_keep_their_colour_in_a_jpeg():
    source = Image.new("RGB", (1024, 512), (255, 255, 255))
    for x in range(0, 1024, 8):
        source.paste((220, 0, 0), (x, 0, x + 2, 512))  # in the thumbnail: 1 px in 4
    [thumb] = make_renditions(encode(source, "PNG"), [("thumb", 512)])
    image = decode(thumb.data)
    shrunk = source.resize(image.size, Image.Resampling.LANCZOS)
    # Half the colour resolution (4:2:0) would blend each line with white: 84 levels off.
    assert max(high for _, high in ImageChops.difference(image, shrunk).getextrema()) <= 16
