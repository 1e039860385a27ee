"""The pages in a real Chromium, against the site on the embedded AWS."""

import io
import os
import re
from pathlib import Path

import pytest
import requests
from PIL import Image

from support import photo_bytes, shot, slow_uploads, upload_until_done

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def report(capsys, label, count, jobs=1):
    with capsys.disabled():
        print(
            f"\n[requests to the web app] {label}: {count} for {jobs} finished job(s),"
            f" {count / jobs:.1f} per job"
        )


def test_a_photo_uploads_with_progress_converts_and_downloads(page, files, live_site, capsys):
    live_site.hits.clear()
    page.goto("/")
    shot(page, "upload")
    slow_uploads(page, 10_000)  # the photo, shrunk first, is some 30 kB
    photo = photo_bytes((4000, 2667), quality=95)
    page.set_input_files("#file", files("holiday.jpg", photo))
    live_site.hold("conversion")  # to see the page while it converts
    page.click("#upload-button")
    page.wait_for_function(
        "() => { const p = document.querySelector('progress');"
        " return p && p.value > 0 && p.value < 100; }"
    )
    said = page.inner_text(".progress-item .message")
    shrunk = rf"\(shrunk from {len(photo) / 1e6:.1f} MB\)"
    assert re.fullmatch(
        rf"Sending \d+% · [\d.]+ kB of [\d.]+ kB( · about \d+ s left)? {shrunk}", said
    )
    page.wait_for_url(re.compile(r"/jobs/[^/]+$"))
    page.wait_for_selector("#job.status-processing")
    shot(page, "status")
    live_site.release("conversion")
    page.wait_for_selector("#renditions img")
    page.wait_for_function("() => document.querySelector('#renditions img').complete")
    assert page.inner_text("#job-message") == "Your images are below, to download or share."
    assert page.locator(".steps .step-label").all_inner_texts() == [
        "Uploaded",
        "Converted",
        "Ready",
    ]
    assert page.get_attribute(".steps li:nth-child(3)", "aria-current") == "step"
    with page.expect_download() as download:
        page.click("text=Download thumb")
    assert download.value.suggested_filename == "holiday-thumb.jpg"
    image = Image.open(download.value.path())
    assert image.format == "JPEG" and image.size == (256, 171)
    report(capsys, "first visit, one photo", len(live_site.hits))


def cache_watch(page) -> list[dict]:
    """Follow, through DevTools, how Chromium answers each of the page's requests: with its
    own network request, from its HTTP cache (`fromDiskCache`), or from Blink's memory cache
    (`requestServedFromCache`, which Chromium sends for nothing else). One dict a request."""
    seen: dict[str, dict] = {}
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")

    def sent(event):
        seen[event["requestId"]] = {"url": event["request"]["url"], "type": event.get("type")}

    def answered(event):
        seen.setdefault(event["requestId"], {})["from_http_cache"] = event["response"].get(
            "fromDiskCache", False
        )

    def from_memory(event):
        seen.setdefault(event["requestId"], {})["from_memory_cache"] = True

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on("Network.responseReceived", answered)
    cdp.on("Network.requestServedFromCache", from_memory)
    return seen


def shown_images(page, files, name: str) -> dict[str, bytes]:
    """Upload a photo, wait until its page has shown its images; return the bytes of each
    rendition as S3 gives them (read apart from the browser)."""
    page.goto("/")
    page.set_input_files("#file", files(name, photo_bytes()))
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/jobs/[^/]+$"))
    page.wait_for_function(
        "() => { const shown = [...document.querySelectorAll('#renditions img')];"
        " return shown.length === 2 && shown.every(i => i.complete && i.naturalWidth > 0); }"
    )
    sources = page.eval_on_selector_all(
        "#renditions img", "shown => shown.map(i => [i.dataset.name, i.src])"
    )
    return {rendition: requests.get(src, timeout=30).content for rendition, src in sources}


def test_a_download_of_a_shown_image_costs_no_request(page, files, live_site, capsys):
    """The page has loaded the image: the click saves those bytes from the browser's cache,
    with the name the site would give, and neither the site nor S3 hears of it."""
    stored = shown_images(page, files, "holiday.jpg")
    seen = cache_watch(page)
    live_site.hits.clear()
    live_site.aws_counts(reset=True)
    for rendition, words in (("thumb", "Download thumbnail"), ("preview", "Download preview")):
        with page.expect_download() as download:
            page.click(f"text={words}")
        assert download.value.suggested_filename == f"holiday-{rendition}.jpg"
        assert Path(download.value.path()).read_bytes() == stored[rendition]
    counts = live_site.aws_counts()
    fetched = [r for r in seen.values() if r.get("type") == "Fetch"]
    with capsys.disabled():
        print(
            f"\n[two downloads of shown images] site requests: {len(live_site.hits)},"
            f" S3 GetObject: {counts.get('s3', {}).get('GetObject', 0)},"
            f" fetches: {[(r.get('from_http_cache'), r.get('from_memory_cache')) for r in fetched]}"
            " (HTTP cache, memory cache)"
        )
    assert live_site.hits == []
    assert counts.get("s3", {}).get("GetObject", 0) == 0
    assert len(fetched) == 2, fetched
    assert all(r.get("from_http_cache") and not r.get("from_memory_cache") for r in fetched)


def test_a_download_whose_image_no_longer_answers_goes_through_the_site(page, files, live_site):
    """The control: the page's image can no longer be had (as when its link expired and the
    cache let it go, or the connection dropped), so the link is followed as without script."""
    stored = shown_images(page, files, "holiday.jpg")
    s3 = live_site.aws_endpoint
    # Every later request for an image's link fails; a download's own link (the site's
    # redirect names the file) still reaches S3. Routing also turns Chromium's cache off.
    page.route(
        lambda url: url.startswith(s3) and "response-content-disposition" not in url,
        lambda route: route.abort("internetdisconnected"),
    )
    live_site.hits.clear()
    live_site.aws_counts(reset=True)
    with page.expect_download() as download:
        page.click("text=Download thumbnail")
    assert download.value.suggested_filename == "holiday-thumb.jpg"
    assert Path(download.value.path()).read_bytes() == stored["thumb"]
    assert [hit.rsplit("/", 1)[-1] for hit in live_site.hits] == ["thumb"]
    assert live_site.aws_counts().get("s3", {}).get("GetObject", 0) == 1
    assert page.locator(".flash, .error").count() == 0


def test_a_returning_visitor_needs_few_requests_per_job(page, files, live_site, capsys):
    page.goto("/")  # the first visit fills the cache with the stylesheet and the script
    page.wait_for_load_state("networkidle")
    live_site.hits.clear()
    page.goto("/")
    page.set_input_files("#file", files("again.jpg", photo_bytes()))
    page.click("#upload-button")
    page.wait_for_selector("#renditions img")
    counted = list(live_site.hits)
    report(capsys, "returning visitor, one photo", len(counted))
    assert not any("/static/" in url for url in counted), counted
    assert len(counted) <= 6, counted


def test_the_plain_form_works_without_javascript(browser, live_site, files):
    context = browser.new_context(java_script_enabled=False, base_url=live_site.url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto("/")
    # The limits come first: without script nothing checks a file before S3 does.
    assert page.inner_text("#drop-hint") == "One image, up to 20 MB"
    assert "a file over 20 MB is refused" in page.inner_text("#limits")
    page.set_input_files("#file", files("no script.jpg", photo_bytes()))
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/jobs/[^/]+$"))
    page.wait_for_selector("#renditions img")  # the page refreshes itself until done
    thumb = page.get_attribute("#renditions img", "src")
    response = page.request.get(thumb)
    assert Image.open(io.BytesIO(response.body())).size == (256, 171)
    assert page.inner_text(".filename") == "no script.jpg"
    context.close()


def test_an_oversize_file_is_refused_before_anything_is_sent(page, files):
    page.goto("/")
    sent = []
    page.on("request", lambda r: r.method == "POST" and sent.append(r.url))
    page.set_input_files("#file", files("huge.jpg", b"\xff\xd8" + os.urandom(21 * 1024 * 1024)))
    assert page.inner_text("#upload-message") == "This file is larger than 20 MB."
    assert page.is_disabled("#upload-button")  # nothing that could be sent, nothing to click
    page.dispatch_event("#upload", "submit")  # even a form submitted another way sends nothing
    # An upload that started would have shown its progress row at once.
    assert page.locator(".progress-item").count() == 0
    assert sent == []


def test_a_file_refused_by_s3_is_explained_in_plain_words(page, files):
    # As if the page's own check were out of date: S3's policy still holds the line. The
    # limit is changed as the form is parsed, before the page's script reads it.
    page.add_init_script("""new MutationObserver((_, watching) => {
        const form = document.getElementById("upload");
        if (form) { form.dataset.maxBytes = "999999999"; watching.disconnect(); }
    }).observe(document, {childList: true, subtree: true});""")
    page.goto("/")
    assert page.get_attribute("#upload", "data-max-bytes") == "999999999"
    page.set_input_files("#file", files("huge.jpg", b"\xff\xd8" + os.urandom(21 * 1024 * 1024)))
    with page.expect_response(lambda r: r.request.method == "POST" and "uploads" in r.url) as s3:
        page.click("#upload-button")
    assert s3.value.status == 400 and "<Code>EntityTooLarge</Code>" in s3.value.text()
    page.wait_for_function(
        "() => document.getElementById('upload-message').textContent.includes('larger')"
    )
    assert page.inner_text("#upload-message") == "This file is larger than 20 MB."
    assert "/jobs/" not in page.url


def test_three_files_at_once_make_three_jobs(page, files, live_site, capsys):
    page.goto("/")
    page.wait_for_load_state("networkidle")
    live_site.hits.clear()
    paths = [files(f"trip {n}.jpg", photo_bytes((1200 + n * 100, 800))) for n in range(3)]
    page.set_input_files("#file", paths)
    page.click("#upload-button")
    page.wait_for_function("() => document.querySelectorAll('.progress-item').length === 3")
    page.wait_for_function(
        "() => document.querySelectorAll('.progress-item.status-done').length === 3"
    )
    assert page.locator(".progress-item img.thumb").count() == 3
    report(capsys, "three photos at once", len(live_site.hits), jobs=3)
    # A row's thumbnail is on show: its download is saved from the cache, asking nothing.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.progress-item img.thumb')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    live_site.hits.clear()
    row = page.locator(".progress-item", has_text="trip 1.jpg")
    with page.expect_download() as download:
        row.locator("a", has_text="Download thumbnail").click()
    assert download.value.suggested_filename == "trip 1-thumb.jpg"
    assert live_site.hits == []
    page.goto("/jobs")
    names = page.locator(".history .name").all_inner_texts()
    assert {"trip 0.jpg", "trip 1.jpg", "trip 2.jpg"} <= set(names)


def test_the_history_lists_uploads_and_deletes_one(page, files):
    kept = upload_until_done(page, files("keep.jpg", photo_bytes()))
    removed = upload_until_done(page, files("remove me.jpg", photo_bytes()))
    page.goto("/jobs")
    shot(page, "history")
    first = page.locator(".history li").first
    assert first.locator(".name").inner_text() == "remove me.jpg"
    assert first.locator("img").get_attribute("alt") == "Thumbnail of remove me.jpg"
    first.locator("summary", has_text="Delete").click()
    first.locator("button", has_text="Delete for good").click()
    page.wait_for_selector(".flash")
    assert "Deleted remove me.jpg" in page.inner_text(".flash")
    assert "remove me.jpg" not in page.locator(".history .name").all_inner_texts()
    assert page.request.get(removed + "/status").status == 404
    assert page.request.get(kept + "/status").status == 200


def test_another_visitor_is_refused_politely(page, browser, live_site, files):
    page.goto("/")
    page.set_input_files("#file", files("private.jpg", photo_bytes()))
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/jobs/[^/]+$"))
    stranger = browser.new_context(base_url=live_site.url)
    other = stranger.new_page()
    response = other.goto(page.url)
    assert response.status == 403
    assert "belongs to someone else" in other.inner_text("main")
    shot(other, "not-yours")
    stranger.close()


def test_the_pages_fit_a_small_screen_and_work_by_keyboard(browser, live_site):
    context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=live_site.url)
    page = context.new_page()
    page.goto("/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(4):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "file":
            break
    assert page.evaluate("document.activeElement.id") == "file"
    context.close()


def test_a_dropped_file_uploads_like_a_chosen_one(page):
    page.goto("/")
    # A drop as the browser delivers it: a DataTransfer holding the file.
    page.evaluate("""async () => {
        const canvas = Object.assign(document.createElement("canvas"), {width: 640, height: 480});
        const context = canvas.getContext("2d");
        context.fillStyle = "#3a7"; context.fillRect(0, 0, 640, 480);
        const blob = await new Promise(done => canvas.toBlob(done, "image/jpeg", 0.9));
        const transfer = new DataTransfer();
        transfer.items.add(new File([blob], "dropped.jpg", {type: "image/jpeg"}));
        const zone = document.getElementById("drop");
        const options = {dataTransfer: transfer, bubbles: true, cancelable: true};
        zone.dispatchEvent(new DragEvent("dragover", options));
        zone.dispatchEvent(new DragEvent("drop", options));
    }""")
    page.wait_for_url(re.compile(r"/jobs/[^/]+$"))
    page.wait_for_selector("#renditions img")
    assert page.inner_text(".filename") == "dropped.jpg"
    assert page.get_attribute("#renditions img", "width") == "256"
