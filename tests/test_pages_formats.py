"""Pictures as people send them, in a real Chromium against the site on the embedded AWS: a
HEIC the browser names no type for, a file that is no image, an animation shown still."""

import io
import secrets

import pytest
from PIL import Image

from app.imaging_output import MAX_ANIMATION_PIXELS
from tests.heic import heic

from support import shot

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def typeless(name: str, data: bytes) -> dict:
    """A file as Chromium hands over one whose type it does not know: an empty type."""
    return {"name": name, "mimeType": "", "buffer": data}


def test_a_heic_the_browser_names_no_type_for_is_sent_as_heic_and_converted(page, live_site):
    name = f"IMG_{secrets.token_hex(4)}.HEIC"
    data = heic(Image.new("RGB", (1200, 900), (40, 120, 200)))
    page.goto("/")
    page.set_input_files("#file", typeless(name, data))
    assert page.inner_text("#upload-message") == ""
    assert not page.is_disabled("#upload-button")
    live_site.hold("conversion")  # a converted upload is deleted: look at it before
    page.click("#upload-button")
    page.wait_for_selector("#job.status-processing")
    storage = live_site.services().storage
    listed = storage.client.list_objects_v2(Bucket=storage.uploads_bucket)["Contents"]
    (key,) = [item["Key"] for item in listed if item["Key"].endswith("/" + name)]
    stored = storage.client.head_object(Bucket=storage.uploads_bucket, Key=key)
    assert stored["ContentType"] == "image/heic"  # what the page told S3, from the extension
    live_site.release("conversion")
    page.wait_for_selector("#renditions img")
    assert page.inner_text(".filename") == name
    with page.expect_download() as download:
        page.click("text=Download thumb")
    assert download.value.suggested_filename == name.replace(".HEIC", "-thumb.jpg")
    assert Image.open(download.value.path()).size == (256, 192)


def test_a_file_of_no_type_and_no_image_extension_is_refused_before_anything_is_sent(page):
    page.goto("/")
    sent = []
    page.on("request", lambda r: r.method == "POST" and sent.append(r.url))
    page.set_input_files("#file", typeless("minutes.xyz", b"Minutes of the meeting"))
    message = page.inner_text("#upload-message")
    assert message.startswith("This file is not an image we can read.")
    assert "JPEG, PNG, GIF, WebP, HEIC, AVIF, BMP or TIFF" in message
    assert page.is_disabled("#upload-button")
    assert sent == []


def test_an_animation_beyond_the_limit_is_shown_still_and_the_page_says_why(page, files):
    side = 1000
    count = MAX_ANIMATION_PIXELS // (side * side) + 1
    frames = [Image.new("P", (side, side), n % 4) for n in range(count)]
    for frame in frames:
        frame.putpalette([250, 250, 250, 230, 60, 40, 40, 120, 200, 30, 160, 90] + [0] * 756)
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    page.goto("/")
    page.set_input_files("#file", files("long-dance.gif", out.getvalue()))
    page.click("#upload-button")
    page.wait_for_selector("#renditions img")
    note = page.inner_text("#job-note")
    assert note.startswith("This animation is shown still, by its first frame")
    assert f"{count} frames of {side}×{side} pixels" in note
    shot(page, "animation-still")
