"""Sending on a weak link, in a real Chromium: a photo shrunk to what the renditions need (and
what goes as it is), progress with the time left, a warning before leaving, drops anywhere,
a file kept through a lost connection, a form renewed, refused files kept in the list, a zip
of everything, and axe on each of those states."""

import io
import re
import zipfile

import pytest
from PIL import Image

from bench.shrink import file_part

from support import SIZES, photo_bytes, sending_slowly, shot, sized_page, slow_uploads, violations

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# What the page's script is told by the settings: renditions up to 1024 px, sent at twice that.
SHRUNK_SIDE = 2048
# The form's data, changed as the form is parsed, before the page's script reads it.
SET_FORM = """([name, value]) => new MutationObserver((_, watching) => {
    const form = document.getElementById("upload");
    if (form) { form.dataset[name] = value; watching.disconnect(); }
}).observe(document, {childList: true, subtree: true})"""


def set_form_data(page, name: str, value: str) -> None:
    page.add_init_script(f"({SET_FORM})({[name, value]!r})")


def sent_files(page) -> dict[str, bytes]:
    """Start keeping the file part of every POST to S3 the page makes, by file name (a route
    sees the body of a form with a file; a request event does not)."""
    sent: dict[str, bytes] = {}

    def keep(route):
        if route.request.method == "POST":
            name, data = file_part(route.request.post_data_buffer)
            sent[name] = data
        route.continue_()

    page.route("**/*-uploads*", keep)
    return sent


def turned_photo(size=(4000, 3000)) -> bytes:
    """A photo stored on its side, with EXIF saying to turn it (orientation 6)."""
    image = Image.open(io.BytesIO(photo_bytes(size)))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif)
    return out.getvalue()


def grainy_photo(size=(3000, 2000)) -> bytes:
    """A photo with a camera's grain: some 250 kB once shrunk, sent in many steps."""
    image = Image.open(io.BytesIO(photo_bytes(size)))
    noise = Image.merge("RGB", [Image.effect_noise(size, 60) for _ in range(3)])
    return encoded(Image.blend(image, noise, 0.3), "JPEG", quality=90)


def encoded(image: Image.Image, kind: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def test_a_photo_is_sent_upright_at_twice_the_largest_rendition(page, files):
    photo = turned_photo()
    sent = sent_files(page)
    page.goto("/")
    page.set_input_files("#file", files("sideways.jpg", photo))
    page.click("#upload-button")
    page.wait_for_selector("#renditions img")
    shrunk = Image.open(io.BytesIO(sent["sideways.jpg"]))
    # Turned as its EXIF said, before the EXIF went: the server has nothing left to turn.
    assert shrunk.format == "JPEG" and shrunk.size == (1536, SHRUNK_SIDE)
    assert 0x0112 not in shrunk.getexif()
    assert len(sent["sideways.jpg"]) < len(photo) / 4
    # The renditions are those the original would have given.
    sizes = [page.get_attribute(f"#renditions img >> nth={n}", "width") for n in (0, 1)]
    assert sizes == ["192", "768"]
    original, arrived = f"{len(photo) / 1e6:.1f} MB", f"{len(sent['sideways.jpg']) / 1e3:.1f} kB"
    assert page.inner_text("#sizes") == (
        f"Your file: {original}, sent as {arrived} "
        "(your browser shrank it to what these images need)."
    )
    assert f"· {original} → " in page.inner_text("#renditions figcaption >> nth=0")


def test_what_the_browser_should_not_shrink_goes_as_it_is(page, files):
    photo = Image.open(io.BytesIO(photo_bytes((3000, 2000))))
    frames = [photo, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    transparent = photo.convert("RGBA")
    transparent.putalpha(200)
    kept = {
        "small.jpg": photo_bytes((1600, 1067)),  # at or below the size sent already
        "drawing.png": encoded(photo.quantize(64), "PNG"),  # a graphic
        "moving.webp": encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
        "clear.webp": encoded(transparent, "WEBP", quality=80),
        "scan.tiff": encoded(photo.resize((2400, 1600)), "TIFF"),  # Chromium cannot decode it
    }
    shrunk = {"still.webp": encoded(photo, "WEBP", quality=90)}
    page.goto("/")
    page.set_input_files("#file", [files(name, data) for name, data in {**kept, **shrunk}.items()])
    page.click("#upload-button")
    page.wait_for_function(
        "() => document.querySelectorAll('.progress-item.status-done').length === 6"
    )
    arrived = {}  # what each job's worker read: the size sent, and the original's if shrunk
    for name in {**kept, **shrunk}:
        job_url = page.get_attribute(f".progress-item a:text-is('Open {name}')", "href")
        job = page.request.get(job_url + "/status").json()
        arrived[name] = (job["upload_size"], job["shrunk"])
    assert {name: arrived[name] for name in kept} == {
        name: (len(data), False) for name, data in kept.items()
    }
    sent, shrank = arrived["still.webp"]
    assert shrank and sent < len(shrunk["still.webp"]) / 2


def test_progress_says_how_much_is_sent_and_leaving_asks_first(page, files):
    sending_slowly(page, files("train.jpg", grainy_photo()))
    page.wait_for_function(
        "() => /left/.test(document.querySelector('.progress-item .message').textContent)"
    )
    said = page.inner_text(".progress-item .message")
    assert re.fullmatch(
        r"Sending \d+% · [\d.]+ kB of [\d.]+ kB · about \d+ s left \(shrunk from [\d.]+ MB\)", said
    ), said
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)  # the dialog comes back through the browser
    assert asked == ["beforeunload"] and not page.is_closed()


def test_a_phone_shows_the_progress_of_several_files(browser, live_site, files):
    page = sized_page(browser, live_site.url, "phone")
    page.goto("/")
    slow_uploads(page, 20_000)
    chosen = [files(f"beach {n}.jpg", grainy_photo((3000 + 200 * n, 2000))) for n in range(3)]
    page.set_input_files("#file", chosen)
    page.click("#upload-button")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.progress-item .message')]"
        ".filter(m => /left/.test(m.textContent)).length === 3"
    )
    shot(page, "uploading-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES["phone"][0]
    page.context.close()


DROP_ON = """async ([where, name]) => {
    const canvas = Object.assign(document.createElement("canvas"), {width: 640, height: 480});
    canvas.getContext("2d").fillRect(0, 0, 640, 480);
    const blob = await new Promise(done => canvas.toBlob(done, "image/jpeg", 0.9));
    const transfer = new DataTransfer();
    transfer.items.add(new File([blob], name, {type: "image/jpeg"}));
    const target = document.querySelector(where);
    const options = {dataTransfer: transfer, bubbles: true, cancelable: true};
    target.dispatchEvent(new DragEvent("dragover", options));
    return target.dispatchEvent(new DragEvent("drop", options));  // false: prevented
}"""


def test_a_drop_anywhere_on_the_upload_page_uploads_and_elsewhere_is_ignored(page):
    page.goto("/")
    assert page.evaluate(DROP_ON, ["footer", "anywhere.jpg"]) is False
    page.wait_for_selector("#renditions img")
    assert page.inner_text(".filename") == "anywhere.jpg"
    history = page.url
    # On any other page, the browser neither opens the file nor leaves the site.
    assert page.evaluate(DROP_ON, ["main", "stray.jpg"]) is False
    assert page.url == history


def test_a_lost_connection_keeps_the_file_and_sends_it_when_back(page, files):
    sending_slowly(page, files("tunnel.jpg", grainy_photo()))
    page.context.set_offline(True)
    page.wait_for_selector(".progress-item.waiting")
    assert page.inner_text(".progress-item .message").startswith("The connection was lost.")
    assert page.is_disabled("#upload-button")
    page.context.set_offline(False)  # the browser says it is back online: sent at once
    page.wait_for_selector("#renditions img")
    assert page.inner_text(".filename") == "tunnel.jpg"


def test_send_again_sends_a_file_whose_connection_failed(page, files):
    page.goto("/")
    # The link fails without the browser noticing (it still says it is online).
    page.route("**/*-uploads*", lambda route: route.abort("internetdisconnected"))
    page.set_input_files("#file", files("bridge.jpg", photo_bytes()))
    page.click("#upload-button")
    page.wait_for_selector(".progress-item.waiting")
    again = page.get_by_role("button", name="Send again: bridge.jpg")
    assert again.is_visible()
    shot(page, "interrupted")
    page.unroute("**/*-uploads*")
    again.click()
    page.wait_for_selector("#renditions img")
    assert page.inner_text(".filename") == "bridge.jpg"


def test_an_expired_form_is_renewed_before_sending(page, files, live_site):
    set_form_data(page, "formSeconds", "30")  # as if the page had been open for long
    page.goto("/")
    first = page.get_attribute("#upload", "data-first")
    live_site.hits.clear()
    page.set_input_files("#file", files("later.jpg", photo_bytes()))
    page.click("#upload-button")
    page.wait_for_selector("#renditions img")
    assert any(hit.endswith("/jobs") for hit in live_site.hits), live_site.hits
    ticket = page.url.rsplit("/", 1)[1]
    assert ticket not in first  # a fresh job, not the page's stale one


def test_every_file_keeps_its_row_and_all_download_as_one_zip(page, files):
    page.goto("/")
    chosen = [files(f"hill {n}.jpg", photo_bytes((1400 + 100 * n, 900))) for n in range(2)]
    chosen.append(files("notes.txt", b"words, not pixels"))
    page.set_input_files("#file", chosen)
    page.click("#upload-button")
    refused = page.locator(".progress-item.refused")
    assert refused.locator(".name").inner_text() == "notes.txt"
    assert refused.locator(".message").inner_text().startswith("This file is not an image")
    page.wait_for_function(
        "() => document.querySelectorAll('.progress-item.status-done').length === 2"
    )
    assert page.locator(".progress-item").count() == 3
    with page.expect_download() as download:
        page.click("#download-all")
    assert download.value.suggested_filename == "thumbs.zip"
    shot(page, "download-all")
    with zipfile.ZipFile(download.value.path()) as archive:
        assert archive.testzip() is None  # every CRC holds
        names = sorted(archive.namelist())
        assert names == [
            "hill 0-preview.jpg",
            "hill 0-thumb.jpg",
            "hill 1-preview.jpg",
            "hill 1-thumb.jpg",
        ]
        thumb = Image.open(io.BytesIO(archive.read("hill 1-thumb.jpg")))
    assert thumb.size == (256, 154)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", SIZES)
def test_the_sending_states_have_no_accessibility_violation(
    browser, live_site, files, size, scheme
):
    page = sized_page(browser, live_site.url, size, scheme)
    found = {}
    try:
        page.goto("/")
        slow_uploads(page, 10_000)
        chosen = [files(f"field {n}.jpg", grainy_photo()) for n in range(2)]
        page.set_input_files("#file", [*chosen, files("list.txt", b"not an image")])
        page.click("#upload-button")
        page.wait_for_function(
            "() => /left/.test(document.querySelector('.sending .message').textContent)"
        )
        found["sending, a file refused"] = violations(page)
        page.context.set_offline(True)
        page.wait_for_selector(".progress-item.waiting")
        found["connection lost"] = violations(page)
        page.context.set_offline(False)
        page.wait_for_function(
            "() => document.querySelectorAll('.progress-item.status-done').length === 2"
        )
        found["done, download all"] = violations(page)
    finally:
        page.context.close()
    assert {name: problems for name, problems in found.items() if problems} == {}


def test_files_wait_for_their_forms_when_the_site_cannot_be_reached(page, files):
    page.goto("/")
    # Two files need a form each beyond the page's own: POST /jobs finds no connection.
    page.route("**/jobs", lambda route: route.abort("internetdisconnected"))
    page.set_input_files("#file", [files(f"pier {n}.jpg", photo_bytes()) for n in range(2)])
    page.click("#upload-button")
    page.wait_for_function("() => document.querySelectorAll('.progress-item.waiting').length === 2")
    assert page.locator(".progress-item.failed").count() == 0  # nothing lost, nothing said failed
    page.unroute("**/jobs")
    page.get_by_role("button", name="Send again: pier 0.jpg").click()
    page.get_by_role("button", name="Send again: pier 1.jpg").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.progress-item.status-done').length === 2"
    )
