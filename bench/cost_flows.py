"""The flows bench/cost.py measures: a browser's requests, in the order the pages make them,
against the site (in this process, metered as the function) on the embedded AWS (in a process
of its own, counting every call). Each flow returns what it cost, as `Bill` counts."""

from __future__ import annotations

import html
import json
import re
import time
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from app.storage import ORIGINAL_SIZE_FIELD
from local.meter import PATH as INVOCATIONS_PATH
from local.meter import Meter

COUNTS_PATH = "/__embedded_aws__/counts"
WAIT = 10  # the page's long poll, as static/site.js asks it


@dataclass
class Bill:
    """What one flow made AWS do: calls by service and operation, the function's invocations
    (site and worker: count, seconds, bytes), and the bytes S3 sent the browser."""

    calls: dict = field(default_factory=dict)
    function: dict = field(default_factory=dict)
    s3_bytes_out: int = 0

    def add(self, other: Bill) -> None:
        for service, operations in other.calls.items():
            mine = self.calls.setdefault(service, {})
            for operation, n in operations.items():
                mine[operation] = mine.get(operation, 0) + n
        for kind, tally in other.function.items():
            mine = self.function.setdefault(kind, {})
            for name, value in tally.items():
                mine[name] = mine.get(name, 0) + value
        self.s3_bytes_out += other.s3_bytes_out

    def scaled(self, factor: float) -> Bill:
        scaled = Bill(s3_bytes_out=self.s3_bytes_out * factor)
        scaled.calls = {s: {o: n * factor for o, n in ops.items()} for s, ops in self.calls.items()}
        scaled.function = {
            k: {name: v * factor for name, v in t.items()} for k, t in self.function.items()
        }
        return scaled

    def total(self, service: str, operations=None) -> float:
        found = self.calls.get(service, {})
        return sum(n for op, n in found.items() if operations is None or op in operations)


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


class Meters:
    """The embedded AWS's counts and the worker's invocations, read and started again."""

    def __init__(self, endpoint: str, site_meter: Meter):
        self.endpoint, self.site_meter = endpoint, site_meter

    def reset(self) -> None:
        self.read()

    def read(self) -> Bill:
        calls = _get_json(self.endpoint + COUNTS_PATH + "?reset=1")
        function = _get_json(self.endpoint + INVOCATIONS_PATH + "?reset=1")
        function.update(self.site_meter.figures(reset=True))
        return Bill(calls, function)


@dataclass(frozen=True)
class Photo:
    """A photo as the upload page's script sends it: the bytes, and, when the page shrank
    it first, the size of the file chosen (which the form then carries)."""

    data: bytes
    chosen: int | None = None


class Browser:
    """A visitor's browser: the site through a test client (cookies kept), S3 over HTTP."""

    def __init__(self, app):
        self.site = app.test_client()
        self.s3 = requests.Session()
        self.s3_bytes = 0
        self.cached_static = False

    def page(self, path: str = "/"):
        answer = self.site.get(path, headers={"Accept": "text/html"})
        if not self.cached_static:  # a first visit: the stylesheet and the script, then cached
            for asset in re.findall(
                r'(?:href|src)="(/static/[^"]+)"', answer.get_data(as_text=True)
            ):
                self.site.get(asset)
            self.cached_static = True
        return answer

    def load_from_s3(self, url: str) -> None:
        answer = self.s3.get(url)
        answer.raise_for_status()
        self.s3_bytes += len(answer.content)

    def send(self, upload: dict, filename: str, photo: Photo) -> dict:
        """POST a file to S3 with a form for a script (201): return what S3 says it stored."""
        fields = dict(upload["fields"], **{"Content-Type": "image/jpeg"})
        if photo.chosen:
            fields[ORIGINAL_SIZE_FIELD] = str(photo.chosen)
        answer = self.s3.post(upload["url"], data=fields, files={"file": (filename, photo.data)})
        assert answer.status_code == 201, answer.text
        return {
            name.lower(): re.search(f"<{name}>([^<]*)</{name}>", answer.text).group(1)
            for name in ("Bucket", "Key", "ETag")
        }

    def watch(self, status_url: str, since: str) -> dict:
        """Long-poll a job's status as the page does, until it has finished."""
        while True:
            job = self.site.get(
                f"{status_url}?wait={WAIT}&since={since}", headers={"Accept": "application/json"}
            ).get_json()
            if job["finished"]:
                return job
            since = job["status"]

    def show(self, job: dict, downloads: int = 1) -> None:
        """Load a finished job's images from S3, and download `downloads` of them. The page's
        script saves a download of an image it shows from the browser's cache, with no
        request (tests/test_browser.py counts none); any other goes through the site."""
        shown = set()
        for rendition in job["renditions"]:
            self.load_from_s3(html.unescape(rendition["src"]))
            shown.add(rendition["name"])
        for item in job["downloads"][:downloads]:
            if item["name"] not in shown:
                answer = self.site.get(item["download_url"])
                self.load_from_s3(answer.headers["Location"])

    def csrf(self, page: str) -> str:
        return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def one_photo(browser: Browser, photo: Photo, downloads: int = 1) -> dict:
    """Upload one photo from the upload page by its script, watch it convert, look and
    download: the page's requests, in its order."""
    page = browser.page("/").get_data(as_text=True)
    first = json.loads(html.unescape(re.search(r'data-first="([^"]+)"', page).group(1)))
    stored = browser.send(first["upload"], "photo.jpg", photo)
    query = "&".join(f"{k}={requests.utils.quote(v, safe='')}" for k, v in stored.items())
    landed = browser.site.get(f"{first['uploaded_url']}?{query}")
    job_page = browser.site.get(landed.headers["Location"], headers={"Accept": "text/html"})
    assert job_page.status_code == 200
    job = browser.watch(first["status_url"], "uploaded")
    browser.show(job, downloads)
    return job


def several(browser: Browser, photo: Photo, count: int = 3) -> list[dict]:
    """Send `count` files at once from the upload page: the page asks for more forms, sends
    each to S3, and follows each on the same page."""
    page = browser.page("/").get_data(as_text=True)
    first = json.loads(html.unescape(re.search(r'data-first="([^"]+)"', page).group(1)))
    more = browser.site.post(
        "/jobs",
        json={"count": count - 1},
        headers={"X-CSRFToken": browser.csrf(page), "Accept": "application/json"},
    ).get_json()["uploads"]
    uploads = [first, *more]
    for n, upload in enumerate(uploads):
        browser.send(upload["upload"], f"photo{n}.jpg", photo)
    jobs = [browser.watch(upload["status_url"], "processing") for upload in uploads]
    for job in jobs:
        browser.show(job, downloads=0)
    return jobs


def share_view(owner: Browser, visitor: Browser, job_url: str) -> None:
    """The owner turns sharing on; another browser opens the link and loads the images."""
    page = owner.site.get(job_url, headers={"Accept": "text/html"}).get_data(as_text=True)
    action = re.search(r'action="([^"]+/share)"', page).group(1)
    owner.site.post(action, data={"csrf_token": owner.csrf(page)})
    page = owner.site.get(job_url, headers={"Accept": "text/html"}).get_data(as_text=True)
    link = html.unescape(re.search(r'value="(http[^"]+/shared/[^"]+)"', page).group(1))
    shared = visitor.page(urlsplit(link).path)
    for src in re.findall(r'<img[^>]+src="([^"]+)"', shared.get_data(as_text=True)):
        visitor.load_from_s3(html.unescape(src))


def retry(browser: Browser, job_url: str, status_url: str) -> dict:
    """A failed job's page: Try again, then watch it convert."""
    page = browser.site.get(job_url, headers={"Accept": "text/html"}).get_data(as_text=True)
    action = re.search(r'action="([^"]+/retry)"', page).group(1)
    browser.site.post(action, data={"csrf_token": browser.csrf(page)})
    browser.site.get(job_url, headers={"Accept": "text/html"})
    job = browser.watch(status_url, "uploaded")
    browser.show(job, downloads=0)
    return job


def timed(flow, *args) -> tuple[object, float]:
    started = time.perf_counter()
    result = flow(*args)
    return result, time.perf_counter() - started
