"""What a person sees, in a real Chromium against the site on the embedded AWS: a job that
stopped says so, several files end, a choice shows itself, the result is within reach, the
history asks before deleting and speaks the person's time, a phone gets a phone's page, and
the comforts (paste, drop several, cancel, dark mode, share, a snippet) work."""

import io
import re
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from app.tickets import new_visitor_id

from support import (
    photo_bytes,
    shot,
    slow_uploads,
    ticket_for,
    upload_until_done,
    visitor_owner,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

NOT_AN_IMAGE = b"these are words, not pixels"
DROP = """async ([names, kind]) => {
    const transfer = new DataTransfer();
    for (const name of names) {
        const canvas = Object.assign(document.createElement("canvas"), {width: 640, height: 480});
        const context = canvas.getContext("2d");
        context.fillStyle = "#3a7"; context.fillRect(0, 0, 640, 480);
        const blob = await new Promise(done => canvas.toBlob(done, "image/png"));
        transfer.items.add(new File([blob], name, {type: "image/png"}));
    }
    if (kind === "paste") {
        document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: transfer}));
        return;
    }
    const zone = document.getElementById("drop");
    const options = {dataTransfer: transfer, bubbles: true, cancelable: true};
    zone.dispatchEvent(new DragEvent("dragover", options));
    zone.dispatchEvent(new DragEvent("drop", options));
}"""


def steps(page) -> list[tuple[str, str]]:
    """Return each step's class and what a screen reader hears of it."""
    return [
        (item.get_attribute("class"), " ".join(item.inner_text().split()))
        for item in page.locator(".steps li").all()
    ] + [("aria-current", page.locator(".steps li[aria-current=step]").inner_text().strip())]


def spoken(page) -> list[str]:
    """Return the steps as the accessibility tree gives them (visually hidden words too)."""
    return [" ".join(item.text_content().split()) for item in page.locator(".steps li").all()]


def test_a_failed_job_looks_failed_and_its_steps_stop_where_it_stopped(page, files):
    page.goto("/")
    page.set_input_files("#file", files("notes.jpg", NOT_AN_IMAGE))
    page.click("#upload-button")
    page.wait_for_selector("#job.status-failed")
    assert page.inner_text("#job-title") == "Failed"
    assert "not an image we can read" in page.inner_text("#job-message")
    assert page.get_attribute("#job", "class") == "job tone-problem status-failed"
    assert [item.get_attribute("class") for item in page.locator(".steps li").all()] == [
        "step-done",
        "step-stopped",
        "step-todo",
    ]
    # What a screen reader reads: no progress towards a "Ready" that never came.
    assert spoken(page) == ["Uploaded: done", "Converting: stopped here", "Ready: not reached"]
    assert page.locator(".steps li[aria-current=step]").inner_text().startswith("Converting")
    assert page.get_attribute(".state", "role") == "status"
    assert page.is_visible("#again") and page.inner_text("#again") == "Upload an image"
    assert page.locator("#downloads").count() == 0
    shot(page, "failed")


@pytest.mark.parametrize(
    "state, title, tone, states",
    [
        ("delayed", "Delayed", "warning", ["step-done", "step-waiting", "step-todo"]),
        ("stalled", "Interrupted", "warning", ["step-done", "step-waiting", "step-todo"]),
        ("expired", "Form expired", "problem", ["step-stopped", "step-todo", "step-todo"]),
    ],
)
def test_a_job_held_up_or_expired_has_its_own_look(page, live_site, state, title, tone, states):
    owner = visitor_owner(page)
    services = live_site.services()
    job_id = new_visitor_id()
    key = f"uploads/{job_id}/{owner}/held.jpg"
    if state == "delayed":  # arrived two minutes ago; no conversion took it up
        services.jobs.record_upload(job_id, owner, key, "held.jpg", now=time.time() - 120)
    elif state == "stalled":  # its conversion's deadline passed, attempts left
        services.jobs.claim(job_id, owner, key, "held.jpg", time.time() - 5, 3)
    age = services.settings.upload_expires_seconds + 60 if state == "expired" else 0
    page.goto(f"/jobs/{ticket_for(live_site.app, job_id, owner, age)}")
    assert page.inner_text("#job-title") == title
    assert page.get_attribute("#job", "class") == f"job tone-{tone} status-{state}"
    assert [item.get_attribute("class") for item in page.locator(".steps li").all()] == states
    words = {"warning": "held up here", "problem": "stopped here"}[tone]
    assert any(line.endswith(words) for line in spoken(page))
    assert page.is_visible("#again")


def test_several_files_end_with_their_own_outcome_and_download_buttons(page, files):
    page.goto("/")
    chosen = [files(f"walk {n}.jpg", photo_bytes((1200 + 100 * n, 800))) for n in range(2)]
    page.set_input_files("#file", [*chosen, files("notes.jpg", NOT_AN_IMAGE)])
    assert page.inner_text("#drop-title") == "3 images"
    page.click("#upload-button")
    page.wait_for_function(
        "() => document.querySelectorAll('.progress-item.status-done').length === 2"
        " && document.querySelectorAll('.progress-item.status-failed').length === 1"
    )
    # Every bar has ended: an upload's bar goes once its file is sent.
    assert page.locator(".progress-item progress").count() == 0
    failed = page.locator(".progress-item.status-failed")
    assert failed.locator(".name").inner_text() == "notes.jpg"
    assert failed.locator(".message").inner_text().startswith("Failed: This file is not an image")
    assert failed.locator("a.button").count() == 0
    done = page.locator(".progress-item.status-done").first
    assert done.locator("a.button").all_inner_texts() == ["Download preview", "Download thumbnail"]
    with page.expect_download() as download:
        done.locator("a.button", has_text="Download thumb").click()
    assert download.value.suggested_filename.endswith("-thumb.jpg")
    assert not page.is_disabled("#file")
    shot(page, "several")


def test_a_choice_shows_itself_and_what_cannot_be_used_is_disabled(page, live_site, files):
    page.goto("/")
    assert page.is_disabled("#upload-button")  # nothing chosen yet
    page.set_input_files("#file", files("harbour.jpg", photo_bytes((1600, 1067))))
    assert page.inner_text("#drop-title") == "harbour.jpg"
    assert re.match(r"\d+\.\d (kB|MB) · choose again to change", page.inner_text("#drop-hint"))
    page.wait_for_selector("#drop-preview:not([hidden])")
    assert page.evaluate("document.getElementById('drop-preview').height") == 192
    shot(page, "chosen")
    live_site.hold("upload")
    page.click("#upload-button")
    page.wait_for_selector(".progress-item progress")
    assert page.is_disabled("#upload-button") and page.is_disabled("#file")
    assert page.inner_text("#upload-button") == "Sending…"
    live_site.release("upload")
    page.wait_for_selector("#renditions img")


def test_the_result_is_within_the_fold_with_upload_another_under_it(browser, live_site, files):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_site.url)
    page = context.new_page()
    upload_until_done(page, files("meadow.jpg", photo_bytes((3000, 2000))))
    button = page.locator("#downloads a", has_text="Download preview")
    assert button.bounding_box()["y"] + button.bounding_box()["height"] <= 800
    again = page.locator("#actions #again")
    assert again.inner_text() == "Upload another" and again.is_visible()
    assert "danger" not in (again.get_attribute("class") or "")
    shot(page, "result", full_page=False)
    again.click()
    page.wait_for_url(live_site.url + "/")
    context.close()


def test_a_delete_asks_first(page, files):
    url = upload_until_done(page, files("keep me.jpg", photo_bytes()))
    page.goto("/jobs")
    item = page.locator(".history li").first
    item.locator("summary", has_text="Delete").click()
    assert "keep me.jpg and its images? This cannot be undone." in item.inner_text()
    assert page.request.get(url + "/status").status == 200  # asked, not yet deleted
    item.locator("summary").click()  # changed their mind
    assert not item.locator("button", has_text="Delete for good").is_visible()
    page.goto(url)
    page.locator("#actions summary", has_text="Delete this upload").click()
    page.locator("#actions button", has_text="Delete for good").click()
    page.wait_for_selector(".flash")
    assert page.request.get(url + "/status").status == 404


def test_history_times_are_utc_without_script_and_local_with_it(browser, live_site, files):
    tokyo = browser.new_context(timezone_id="Asia/Tokyo", base_url=live_site.url)
    page = tokyo.new_page()
    upload_until_done(page, files("night.jpg", photo_bytes()))
    page.goto("/jobs")
    stamp = page.get_attribute(".history time", "datetime")
    moment = datetime.fromisoformat(stamp)
    assert moment.tzinfo == UTC or moment.utcoffset().total_seconds() == 0
    there = moment.astimezone(ZoneInfo("Asia/Tokyo"))
    shown = page.inner_text(".history time")
    assert f"{there:%H:%M}" in shown and "UTC" not in shown, shown
    assert page.get_attribute(".history time", "title").endswith("UTC")
    plain = browser.new_context(
        timezone_id="Asia/Tokyo",
        java_script_enabled=False,
        storage_state=tokyo.storage_state(),
        base_url=live_site.url,
    )
    without = plain.new_page()
    without.goto("/jobs")
    assert without.inner_text(".history time") == f"{moment:%d %b %Y, %H:%M} UTC"
    plain.close()
    tokyo.close()


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def test_a_phone_gets_one_line_headers_compact_steps_and_no_drop(browser, live_site, files):
    context = browser.new_context(**PHONE, base_url=live_site.url)
    page = context.new_page()
    page.goto("/")
    assert "drop" not in page.inner_text("main").lower()
    assert page.inner_text("#drop-hint") == "Up to 10 images at a time"
    heights = {"upload": page.locator("header.site").bounding_box()["height"]}
    shot(page, "upload-phone")
    upload_until_done(page, files("phone.jpg", photo_bytes()))
    heights["job"] = page.locator("header.site").bounding_box()["height"]
    assert page.locator(".steps").bounding_box()["height"] <= 40
    shot(page, "result-phone")
    page.goto("/jobs")
    heights["history"] = page.locator("header.site").bounding_box()["height"]
    page.goto("/jobs/not-a-ticket")
    heights["error"] = page.locator("header.site").bounding_box()["height"]
    line = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('.brand')).lineHeight)"
    )
    assert len(set(heights.values())) == 1 and max(heights.values()) < 2 * line + 20, heights
    for url in ("/", "/jobs"):
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_the_upload_page_names_heic_and_avif_among_the_formats(page):
    page.goto("/")
    assert "JPEG, PNG, GIF, WebP, HEIC, AVIF, BMP or TIFF" in page.inner_text(".lead")
    assert page.get_attribute("#file", "accept") == "image/*,.heic,.heif"


def test_a_pasted_image_is_chosen_and_uploads(page):
    page.goto("/")
    page.evaluate(DROP, [["image.png"], "paste"])
    assert page.inner_text("#drop-title") == "image.png"
    page.click("#upload-button")
    page.wait_for_selector("#renditions img")
    assert page.inner_text(".filename") == "image.png"


def test_several_dropped_images_upload_together(page):
    page.goto("/")
    page.evaluate(DROP, [["left.png", "right.png"], "drop"])
    page.wait_for_function(
        "() => document.querySelectorAll('.progress-item.status-done').length === 2"
    )
    names = page.locator(".progress-item .name").all_inner_texts()
    assert names == ["left.png", "right.png"]


def test_an_upload_in_flight_can_be_cancelled(page, files):
    page.goto("/")
    slow_uploads(page, 5_000)  # the photo, shrunk first, is some 30 kB
    page.set_input_files("#file", files("big.jpg", photo_bytes((4000, 2667), quality=95)))
    page.click("#upload-button")
    page.wait_for_function("() => document.querySelector('progress')?.value > 0")
    page.locator(".progress-item button", has_text="Cancel").click()
    page.wait_for_selector(".progress-item.cancelled")
    assert page.inner_text(".progress-item .message") == "Cancelled. Nothing was kept."
    assert page.inner_text("#drop-title") == "big.jpg"  # still chosen, ready to send again
    assert not page.is_disabled("#upload-button")
    assert "/jobs/" not in page.url
    page.goto("/jobs")
    assert "Nothing yet" in page.inner_text("main")


def test_dark_mode_follows_the_system_setting(browser, live_site, files):
    context = browser.new_context(
        color_scheme="dark", viewport={"width": 1280, "height": 800}, base_url=live_site.url
    )
    page = context.new_page()
    page.goto("/")
    background = "getComputedStyle(document.documentElement).backgroundColor"
    assert page.evaluate(background) == "rgb(13, 17, 23)"
    upload_until_done(page, files("dusk.jpg", photo_bytes()))
    shot(page, "dark", full_page=False)
    context.close()
    light = browser.new_context(color_scheme="light", base_url=live_site.url).new_page()
    light.goto("/")
    assert light.evaluate(background) == "rgb(255, 255, 255)"
    light.context.close()


def test_a_share_link_shows_the_images_read_only_in_another_browser(
    page, browser, live_site, files
):
    url = upload_until_done(page, files("beach.jpg", photo_bytes()))
    page.get_by_role("button", name="Make a share link").click()
    link = page.input_value("#share-link")
    assert link.startswith(live_site.url + "/shared/")
    stranger = browser.new_context(viewport={"width": 1000, "height": 900})
    other = stranger.new_page()
    assert other.goto(link).status == 200
    other.wait_for_function(
        "() => [...document.querySelectorAll('.renditions img')].every(i => i.naturalWidth > 0)"
    )
    assert other.inner_text("h1") == "beach.jpg"
    assert other.locator("form").count() == 0  # no delete, no retry: nothing to post
    assert "Delete" not in other.inner_text("main") and "Try again" not in other.inner_text("main")
    live_site.hits.clear()
    with other.expect_download() as download:
        other.click("text=Download thumb")
    assert Image.open(download.value.path()).size == (256, 171)
    assert download.value.suggested_filename == "beach-thumb.jpg"
    assert live_site.hits == []  # saved from the image the page shows: the site hears nothing
    shot(other, "shared")
    assert other.goto(url).status == 403  # the job's own page stays its owner's
    page.goto(url)
    page.get_by_role("button", name="Stop sharing").click()
    page.get_by_role("button", name="Make a share link").wait_for()
    gone = other.goto(link)
    assert gone.status == 404 and "Shared link not found" in other.inner_text("main")
    stranger.close()


def test_the_snippet_is_the_preview_with_its_size_and_copies(browser, live_site, files):
    context = browser.new_context(base_url=live_site.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_site.url)
    page = context.new_page()
    upload_until_done(page, files("tower.jpg", photo_bytes((1200, 1800))))
    # Only a shared image can be shown on another page: the snippet asks to share first.
    assert page.locator("#snippet").count() == 0
    assert "Make a share link first" in page.inner_text("#embed")
    page.get_by_role("button", name="Make a share link").click()
    link = page.input_value("#share-link")
    snippet = page.input_value("#snippet")
    src = f"{link}/files/preview"
    assert snippet == f'<img src="{src}" width="683" height="1024" alt="tower">'
    assert Image.open(io.BytesIO(page.request.get(src).body())).size == (683, 1024)
    page.click("button[data-copy=snippet]")
    page.wait_for_selector("text=Copied")
    assert page.evaluate("navigator.clipboard.readText()") == snippet
    thumb = page.request.get(page.get_attribute("#renditions img", "src"))
    assert Image.open(io.BytesIO(thumb.body())).size == (171, 256)
    context.close()
