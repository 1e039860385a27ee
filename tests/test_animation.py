"""Animations: GIF, WebP and APNG keep moving as animated WebP, frames and timing kept; beyond
the deployment's limit, or in a format that cannot move, the first frame, and a note saying so."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from app.imaging import Options, make_renditions
from tests import images
from tests.images import BLUE, GREEN, RED, YELLOW, close, decode, encode

ROOT = Path(__file__).resolve().parent.parent
COLOURS = (RED, GREEN, BLUE, YELLOW)
DURATIONS = [100, 250, 40, 600]
SPECS = [("thumb", 64), ("preview", 256)]


def frames_of(size=(160, 120), colours=COLOURS) -> list[Image.Image]:
    """Frames of one colour each, with a white square that moves, so no two are alike."""
    frames = []
    for n, colour in enumerate(colours):
        frame = Image.new("RGB", size, colour)
        frame.paste((255, 255, 255), (n * 20, 10, n * 20 + 30, 40))
        frames.append(frame)
    return frames


def animation(fmt: str, frames=None, **params) -> bytes:
    frames = frames or frames_of()
    params = {"duration": DURATIONS[: len(frames)], "loop": 0, **params}
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], **params)


def played(data: bytes) -> list[tuple[Image.Image, int]]:
    """Return each frame of an animation, as a viewer composes it, and its duration."""
    image = Image.open(io.BytesIO(data))
    frames = []
    for index in range(image.n_frames):
        image.seek(index)
        image.load()
        frames.append((image.convert("RGBA"), image.info["duration"]))
    return frames


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_an_animation_becomes_animated_webp_with_its_frames_and_timing(fmt):
    data = animation(fmt, lossless=True) if fmt == "WEBP" else animation(fmt)
    renditions = make_renditions(data, SPECS)
    assert renditions.note is None
    assert [(r.name, r.content_type, r.width, r.height) for r in renditions] == [
        ("thumb", "image/webp", 64, 48),
        ("preview", "image/webp", 160, 120),
    ]
    for rendition in renditions:
        frames = played(rendition.data)
        assert [duration for _, duration in frames] == DURATIONS
        for (frame, _), colour in zip(frames, COLOURS, strict=True):
            x, y = frame.width - 8, frame.height - 8  # far from the white square
            assert close(frame.getpixel((x, y)), (*colour, 255), 10), (fmt, colour)
        assert Image.open(io.BytesIO(rendition.data)).info["loop"] == 0


@pytest.mark.parametrize("fmt", ["GIF", "PNG"])
def test_an_animation_no_larger_than_a_rendition_keeps_every_frame_pixel_identical(fmt):
    data = animation(fmt)
    source = played(data)
    preview = make_renditions(data, SPECS)[1]
    assert (preview.width, preview.height) == source[0][0].size
    for (ours, _), (theirs, _) in zip(played(preview.data), source, strict=True):
        assert ImageChops.difference(ours, theirs).getbbox() is None


def test_a_transparent_gif_animation_stays_transparent():
    frames = [Image.new("P", (100, 80), 0) for _ in range(3)]
    for n, frame in enumerate(frames):
        frame.putpalette([0, 0, 0, *RED, *GREEN, *BLUE] + [0] * 756)
        frame.paste(n + 1, (20 * n, 20, 20 * n + 40, 60))
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], transparency=0)
    for n, (frame, _) in enumerate(played(make_renditions(data, SPECS)[1].data)):
        assert frame.getpixel((95, 5))[3] == 0
        assert frame.getpixel((20 * n + 30, 40)) == (*(RED, GREEN, BLUE)[n], 255)


@pytest.mark.parametrize(
    "params, loop",
    [({}, 1), ({"loop": 0}, 0), ({"loop": 2}, 3)],
    ids=["no loop extension: once", "for ever", "2 repeats: 3 plays"],
)
def test_a_gifs_looping_is_kept(params, loop):
    frames = frames_of()
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], **params)
    webp = Image.open(io.BytesIO(make_renditions(data, SPECS)[0].data))
    assert webp.info["loop"] == loop


def test_an_apngs_default_image_is_not_a_frame_of_its_animation():
    frames = frames_of()
    still = Image.new("RGB", frames[0].size, (128, 128, 128))
    data = encode(
        still, "PNG", save_all=True, append_images=frames, default_image=True, duration=DURATIONS
    )
    played_frames = played(make_renditions(data, SPECS)[1].data)
    assert len(played_frames) == len(frames)
    assert close(played_frames[0][0].getpixel((150, 110)), (*RED, 255), 4)


def test_an_animated_webp_turned_by_exif_comes_out_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side
    frames = [images.quadrants((80, 40)).transpose(Image.Transpose.ROTATE_90) for _ in range(2)]
    data = animation("WEBP", frames, exif=exif.tobytes(), lossless=True)
    [thumb] = make_renditions(data, [("thumb", 256)])
    for frame, _ in played(thumb.data):
        assert frame.size == (80, 40)
        for got, colour in zip(images.quadrant_colours(frame), COLOURS, strict=True):
            assert close(got, colour, 12)


def test_an_animation_in_display_p3_is_converted_to_srgb_frame_by_frame():
    colour = (180, 40, 160)
    frames = [Image.new("RGB", (60, 40), colour) for _ in range(2)]
    profile = images.rgb_profile(images.DISPLAY_P3)
    data = animation("WEBP", frames, lossless=True, icc_profile=profile)
    expected = images.to_srgb(images.DISPLAY_P3, [images.srgb_to_linear(v / 255) for v in colour])
    for frame, _ in played(make_renditions(data, SPECS)[1].data):
        assert close(frame.getpixel((30, 20)), (*expected, 255), 3)


def test_an_animation_beyond_the_limit_shows_its_first_frame_and_says_why():
    data = animation("GIF")  # 4 frames of 160×120: 76,800 pixels in all
    renditions = make_renditions(data, SPECS, Options(max_animation_pixels=76_799))
    assert "first frame" in renditions.note and "4 frames of 160×120" in renditions.note
    assert "0.076799 megapixels" in renditions.note
    for rendition in renditions:
        image = decode(rendition.data)
        assert getattr(image, "n_frames", 1) == 1
        assert close(image.convert("RGB").getpixel((rendition.width - 4, 4)), RED, 12)
    assert make_renditions(data, SPECS, Options(max_animation_pixels=76_800)).note is None


@pytest.mark.parametrize("output_format", ["jpeg", "png"])
def test_a_format_that_cannot_move_shows_the_first_frame_and_says_so(output_format):
    renditions = make_renditions(animation("GIF"), SPECS, Options(output_format=output_format))
    assert f"makes {output_format.upper()} images, which cannot move" in renditions.note
    for rendition in renditions:
        image = decode(rendition.data)
        assert image.format == output_format.upper() and getattr(image, "n_frames", 1) == 1


def test_an_animation_not_done_by_its_deadline_shows_its_first_frame_and_says_why():
    data = animation("GIF")
    renditions = make_renditions(data, SPECS, deadline=0.0)  # passed before it began
    assert "took longer than one image may take" in renditions.note
    for rendition in renditions:
        assert getattr(decode(rendition.data), "n_frames", 1) == 1
    assert make_renditions(data, SPECS, deadline=math.inf).note is None


def test_webp_output_keeps_the_animation_moving():
    renditions = make_renditions(animation("GIF"), SPECS, Options(output_format="webp"))
    assert renditions.note is None and len(played(renditions[0].data)) == 4


def test_an_animation_damaged_after_its_first_frame_shows_that_frame_and_says_so():
    data = animation("PNG")
    at = data.rindex(b"fdAT") + 8  # the last frame's data: its checksum no longer matches
    damaged = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    renditions = make_renditions(damaged, SPECS)
    assert "a later frame of it is damaged" in renditions.note
    assert close(decode(renditions[0].data).convert("RGB").getpixel((60, 44)), RED, 12)


def test_a_still_gif_or_png_has_no_note():
    for fmt in ("GIF", "PNG"):
        assert make_renditions(encode(Image.new("RGB", (50, 40), RED), fmt), SPECS).note is None


ANIMATE_IN_FRESH_PROCESS = """
import io, json, sys
from PIL import Image
from app.imaging import Options, make_renditions
def peak():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
data = open(sys.argv[1], "rb").read()
make_renditions(data, [("thumb", 8)], Options(max_animation_pixels=0))  # codecs loaded
before = peak()
made = make_renditions(data, [("thumb", 256), ("preview", 1024)])
def length(data):
    image, total = Image.open(io.BytesIO(data)), 0
    for n in range(image.n_frames):
        image.seek(n)
        image.load()
        total += image.info["duration"]
    return total
lengths = [length(r.data) for r in made]
print(json.dumps({"ms": lengths, "note": made.note, "grew_kb": peak() - before}))
"""


def test_an_animations_memory_is_a_frames_not_all_of_its_frames(tmp_path):
    frames = frames_of((400, 300), [(n, 255 - n, 128) for n in range(0, 240, 2)])
    path = tmp_path / "long.gif"
    path.write_bytes(animation("GIF", frames, duration=40))
    command = [sys.executable, "-c", ANIMATE_IN_FRESH_PROCESS, str(path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert result["ms"] == [120 * 40, 120 * 40] and result["note"] is None
    # 120 frames of 400×300 held at once would be 58 MB of RGBA; one frame is 0.5 MB.
    assert result["grew_kb"] < 24 * 1024, result
