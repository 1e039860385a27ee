"""The whole flow over real HTTP: the site, the embedded AWS with its gate, and the worker."""

import html
import io
import os
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image

from support import jpeg_bytes, upload_form

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e


def upload(
    site: str,
    browser: requests.Session,
    filename: str,
    data: bytes,
    content_type: str = "image/jpeg",
) -> requests.Response:
    """Do what the browser does: open the page, post the form to S3, follow the redirect."""
    action, fields = upload_form(browser.get(site + "/").text)
    fields = [(n, content_type if n == "Content-Type" else v) for n, v in fields]
    return browser.post(action, data=fields, files={"file": (filename, data, content_type)})


def wait_until_finished(browser: requests.Session, job_url: str) -> dict:
    for _ in range(600):  # generous: a busy two-core CI machine converts slowly
        status = browser.get(job_url + "/status").json()
        if status["finished"]:
            return status
        time.sleep(0.1)
    raise AssertionError(f"the job never finished: {status}")


def test_a_photo_becomes_a_thumbnail(live_site):
    browser = requests.Session()
    landed = upload(live_site.url, browser, "holiday in Nice.jpg", jpeg_bytes((2400, 1600)))
    # S3 redirected to /uploaded, which redirected to the job's page.
    assert [r.status_code for r in landed.history] == [303, 303]
    assert landed.status_code == 200 and "/jobs/" in landed.url
    status = wait_until_finished(browser, landed.url)
    assert status["status"] == "done"
    thumb = next(r for r in status["renditions"] if r["name"] == "thumb")
    image = Image.open(io.BytesIO(requests.get(thumb["src"]).content))
    assert max(image.size) <= 256 and image.size == (256, 171)
    download = browser.get(live_site.url + thumb["download_url"])
    assert "holiday in Nice-thumb.jpg" in download.headers["Content-Disposition"]


def test_a_non_image_ends_failed_with_its_message(live_site):
    browser = requests.Session()
    landed = upload(live_site.url, browser, "notes.jpg", b"Dear diary, this is not a picture.")
    status = wait_until_finished(browser, landed.url)
    assert status["status"] == "failed"
    assert status["error_code"] == "not_an_image"
    assert "not an image" in status["message"]
    assert "not an image" in browser.get(landed.url).text


def test_s3_refuses_an_upload_outside_the_policy(live_site):
    browser = requests.Session()
    response = upload(
        live_site.url, browser, "page.html", b"<html></html>", content_type="text/html"
    )
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text


def test_another_visitor_cannot_see_the_job(live_site):
    owner, stranger = requests.Session(), requests.Session()
    landed = upload(live_site.url, owner, "mine.jpg", jpeg_bytes())
    stranger.get(live_site.url + "/")
    assert stranger.get(landed.url).status_code == 403
    refused = stranger.get(landed.url + "/status")
    assert refused.status_code == 403 and "renditions" not in refused.json()
    nobody = requests.Session()
    assert nobody.get(landed.url + "/status").status_code == 403


HOSTILE_NAMES = [
    "../../results/other-job/thumb.jpg",
    '<script>alert("x")</script>.jpg',
    "<img src=x onerror=alert(1)>.jpg",
    "photo\u202egpj.exe",
    "tab\tline\nbreak\r.jpg",
    "nul\x00byte.jpg",
    'quote" and \\ backslash; filename=evil.exe.jpg',
    "a" * 200 + ".jpg",
]


@pytest.mark.parametrize("filename", HOSTILE_NAMES)
def test_a_hostile_filename_is_harmless_everywhere(live_site, filename):
    browser = requests.Session()
    landed = upload(live_site.url, browser, filename, jpeg_bytes())
    assert landed.status_code == 200, landed.text
    status = wait_until_finished(browser, landed.url)
    assert status["status"] == "done"
    shown = status["filename"]
    assert "\u202e" not in shown and "\n" not in shown and "\x00" not in shown
    assert len(shown) <= 120
    for page in (browser.get(landed.url).text, browser.get(live_site.url + "/jobs").text):
        assert "<script>alert" not in page and "<img src=x" not in page
    thumb = status["renditions"][0]
    disposition = browser.get(live_site.url + thumb["download_url"]).headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    plain = re.search(r'filename="([^"]*)"', disposition).group(1)
    assert "/" not in plain and "\\" not in plain and plain.endswith("-thumb.jpg")


def test_a_thousand_character_filename_is_refused_by_s3(live_site):
    browser = requests.Session()
    response = upload(live_site.url, browser, "a" * 1000 + ".jpg", jpeg_bytes())
    assert response.status_code == 400
    assert "<Code>KeyTooLongError</Code>" in response.text


def test_an_edited_or_expired_link_to_a_result_is_refused(live_site):
    browser = requests.Session()
    landed = upload(live_site.url, browser, "link.jpg", jpeg_bytes())
    url = wait_until_finished(browser, landed.url)["renditions"][0]["src"]
    assert requests.get(url).status_code == 200
    other = url.replace("thumb.jpg", "preview.jpg")
    assert requests.get(other).status_code == 403
    longer = url.replace("X-Amz-Expires=300", "X-Amz-Expires=604800")
    assert "SignatureDoesNotMatch" in requests.get(longer).text


def test_concurrent_claims_on_the_embedded_aws_have_one_winner(site_aws):
    """DynamoDB's conditional writes are atomic; the embedded AWS must keep them so.

    (moto's server alone lets several of these claims win about one time in four.)
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from app.config import Settings
    from app.services import services_for

    jobs = services_for(Settings(stage="e2e", aws_endpoint_url=site_aws["endpoint"])).jobs
    racers = 8

    def race(job_id: str, start: threading.Barrier):
        start.wait()
        return jobs.claim(
            job_id, "racer", f"uploads/{job_id}/racer/a.jpg", "a.jpg", time.time() + 60, 3
        )

    for n in range(30):
        job_id = f"racer-{n}-{time.time()}"
        start = threading.Barrier(racers)
        with ThreadPoolExecutor(max_workers=racers) as pool:
            claims = list(pool.map(race, [job_id] * racers, [start] * racers))
        assert sum(won is not None for won in claims) == 1
        assert jobs.get(job_id).attempts == 1


def test_a_link_fetched_after_its_presigned_lifetime_still_gives_the_image(live_site, site_aws):
    """A page left open: its presigned links expire (LINK_EXPIRES_SECONDS=3), its links
    through the site do not."""
    from urllib.parse import urlsplit

    from app import create_app

    from conftest import settings_for_tests

    browser = requests.Session()
    landed = upload(live_site.url, browser, "left open.jpg", jpeg_bytes())
    wait_until_finished(browser, landed.url)
    short = create_app(
        settings_for_tests(
            STAGE="e2e",
            LOCAL_AWS=True,
            AWS_ENDPOINT_URL=site_aws["endpoint"],
            LINK_EXPIRES_SECONDS=3,
        )
    )
    site = short.test_client()
    site.set_cookie("thumbs", browser.cookies["thumbs"])
    view = site.get(urlsplit(landed.url).path + "/status").get_json()
    (thumb, preview) = view["renditions"]
    time.sleep(4)
    assert requests.get(thumb["src"]).status_code == 403  # S3's own link has expired
    for link, name in ((thumb["url"], None), (preview["download_url"], "left open-preview.jpg")):
        redirect = site.get(link)
        assert redirect.status_code == 302
        assert "max-age=1" in redirect.headers["Cache-Control"]
        image = requests.get(redirect.headers["Location"])
        assert image.status_code == 200 and Image.open(io.BytesIO(image.content)).width > 0
        if name:
            assert name in image.headers["Content-Disposition"]


@contextmanager
def make_run():
    """Run the site as `make run` does (`flask run`, FLASK_APP from .flaskenv: the embedded
    AWS in the same process), on free ports; yield its URL and the lines it prints."""
    environment = {
        **{n: v for n, v in os.environ.items() if not n.startswith("FLASK_")},
        "LOCAL_AWS_PORT": "0",
        "RECONCILE_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "run", "--port", "0"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed: list[str] = []
    started = threading.Event()

    def read() -> None:
        for line in process.stdout:
            printed.append(line)
            if "Running on http://" in line:
                started.set()
        started.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        started.wait(120)  # a guard against a server that never starts, not a measure
        running = [line for line in printed if "Running on http://" in line]
        assert running, "".join(printed)
        yield running[0].split("Running on ")[1].strip(), printed
    finally:
        process.terminate()
        process.wait(30)


def test_make_runs_output_names_no_ticket_or_share_token():
    with make_run() as (site, printed):
        browser = requests.Session()
        landed = upload(site, browser, "holiday.jpg", jpeg_bytes())
        assert wait_until_finished(browser, landed.url)["status"] == "done"
        page = browser.get(landed.url).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        share = re.search(r'<form method="post" action="([^"]+/share)"', page).group(1)
        assert browser.post(site + share, data={"csrf_token": token}).status_code == 200
        link = re.search(r'id="share-link"[^>]*value="([^"]+)"', browser.get(landed.url).text)
        shared = requests.get(html.unescape(link.group(1)))
        download = re.search(r'href="([^"]+/files/[^"]+)"', shared.text).group(1)
        assert requests.get(site + html.unescape(download)).status_code == 200
        output = "".join(printed)
    ticket = urlsplit(landed.url).path.split("/")[2]
    share_token = urlsplit(html.unescape(link.group(1))).path.split("/")[2]
    assert "/jobs/<ticket>/status" in output and "/shared/<token>/files/" in output
    assert ticket not in output and share_token not in output
