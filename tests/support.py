"""Plain helpers the tests (and the stress suite) share; fixtures live in conftest.py."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote_plus

from PIL import Image

# The sizes the browser tests check a page at: a desktop's and a phone's.
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
# Where the browser tests leave their screenshots (`make screenshots` copies those the docs show).
SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
# What a script sends to ask for JSON (errors included); pages get a browser's Accept.
SCRIPT = {"Accept": "application/json"}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


class Clock:
    """A clock a test sets by hand: the S3 gate's idea of now."""

    def __init__(self):
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def s3_gate(storage, clock: Clock):
    """Return a test client of the embedded AWS's S3 gate in front of this process's moto, on
    `clock`'s time, knowing the key that signs `storage`'s requests (as S3 knows its keys)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.test import Client

    from embedded_aws import CREDENTIALS
    from embedded_aws.gate import S3Gate

    signing = storage.client._request_signer._credentials.get_frozen_credentials()
    credentials = {**CREDENTIALS, signing.access_key: signing.secret_key}
    return Client(S3Gate(DomainDispatcherApplication(create_backend_app), credentials, clock))


@dataclass
class UploadPage:
    """The upload page as a browser gets it: its form (action, fields, policy) and its job."""

    response: object
    action: str
    fields: dict[str, str]
    policy: dict
    ticket: str
    job_id: str

    @property
    def html(self) -> str:
        return self.response.get_data(as_text=True)

    @property
    def owner(self) -> str:
        """The visitor's owner tag, which the form's key prefix pins."""
        return self.fields["key"].split("/")[2]


def open_upload_page(client) -> UploadPage:
    """GET / with a Flask test client; return the page's form and the job it is for."""
    response = client.get("/")
    assert response.status_code == 200
    action, fields = upload_form(response.get_data(as_text=True))
    fields = dict(fields)
    policy = json.loads(base64.b64decode(fields["policy"]))
    ticket = re.search(r"/jobs/([^/]+)/uploaded", fields["success_action_redirect"]).group(1)
    return UploadPage(response, action, fields, policy, ticket, fields["key"].split("/")[1])


def csrf_token(page: str) -> str:
    """Return the CSRF token a page carries for its scripts."""
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


def upload_form(page: str) -> tuple[str, list[tuple[str, str]]]:
    """Return the upload form's action and its fields, in order, from the page's HTML."""
    action = re.search(r'<form id="upload"[^>]*\baction="([^"]+)"', page).group(1)
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
    return html.unescape(action), [(html.unescape(n), html.unescape(v)) for n, v in fields]


def raising(error: BaseException):
    """Return a function that raises `error`, whatever it is called with."""

    def fail(*args, **kwargs):
        raise error

    return fail


def put_upload(services, key: str, data: bytes) -> None:
    """Store `data` in the uploads bucket under `key`, as a browser's upload would."""
    services.storage.client.put_object(Bucket=services.storage.uploads_bucket, Key=key, Body=data)


def scan_table(services) -> list[dict]:
    """Return every item of the jobs table (a test may scan; the app never does)."""
    table = services.settings.jobs_table
    return services.jobs.client.scan(TableName=table).get("Items", [])


def stored_keys(services, bucket: str) -> list[str]:
    """Return every key in `bucket`."""
    listing = services.storage.client.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def s3_event(
    bucket: str,
    key: str,
    size: int = 1000,
    name: str = "ObjectCreated:Post",
    function_name: str = "thumbs-dev",
) -> dict:
    """Return an S3 notification as Lambda receives it from a Zappa-made trigger.

    Keys are URL-encoded, with + for spaces; Zappa names the notification after the function
    (no ":"), so its handler picks the function by the bucket's ARN.
    """
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "eventName": name,
                "userIdentity": {"principalId": "AWS:EXAMPLE"},
                "requestParameters": {"sourceIPAddress": "203.0.113.9"},
                "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": function_name,
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "EXAMPLE"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key),
                        "size": size,
                        "eTag": "0" * 32,
                        "sequencer": "0055AED6DCD90281E5",
                    },
                },
            }
        ]
    }


def jpeg_bytes(size=(1200, 800), color=(200, 60, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def multipart(
    fields: list[tuple[str, str]],
    file: tuple[str, bytes, str] | None,
    after: list[tuple[str, str]] = (),
) -> tuple[bytes, str]:
    """Encode a browser's form upload: `fields` in order, then the file, then `after`."""
    from urllib3 import encode_multipart_formdata

    parts = list(fields) + ([("file", file)] if file else []) + list(after)
    return encode_multipart_formdata(parts)


def with_a_second_file(fields: list[tuple[str, str]], megabytes: int = 25) -> tuple[bytes, str]:
    """Encode a form upload of a 1-byte file followed by a second, large file part, which S3
    ignores (nothing after the file counts): the second must never reach storage."""
    body, content_type = multipart(fields, ("tiny.jpg", b"x", "image/jpeg"))
    boundary = b"--" + content_type.split("boundary=")[1].encode()
    huge = (
        b'\r\nContent-Disposition: form-data; name="more"; filename="huge.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + b"\xff" * (megabytes * 1024 * 1024) + b"\r\n"
    )
    return body.replace(boundary + b"--", boundary + huge + boundary + b"--"), content_type


def photo_bytes(size=(1600, 1067), quality=90) -> bytes:
    """Return a photo-like JPEG: a sky, a sun, hills and grain (not flat colour)."""
    from PIL import ImageDraw, ImageFilter

    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    sky = Image.new("RGB", size, (70, 130, 210))
    image = Image.blend(sky, Image.merge("RGB", [image.getchannel(0)] * 3), 0.25)
    draw = ImageDraw.Draw(image)
    draw.ellipse([width * 0.65, height * 0.12, width * 0.8, height * 0.35], fill=(255, 214, 102))
    for i, colour in enumerate([(64, 120, 72), (46, 94, 56), (30, 70, 40)]):
        top = height * (0.5 + 0.12 * i)
        points = [(x, top + 40 * ((x * (i + 3)) % 97) / 97) for x in range(0, width + 40, 40)]
        draw.polygon(points + [(width, height), (0, height)], fill=colour)
    noise = Image.effect_noise(size, 48).convert("RGB")
    image = Image.blend(image, noise, 0.08).filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def shot(page, name: str, full_page: bool = True) -> None:
    """Save a screenshot of `page` as build/screenshots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def slow_uploads(page, bytes_per_second: int = 3_000_000) -> None:
    """Throttle the page's uploads, so their progress can be watched (or cancelled)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def sized_page(browser, base_url: str, size: str, scheme: str = "light"):
    """Return a page in a fresh context at one of SIZES (a phone's with touch), in a colour
    scheme, waiting up to a minute; closing its context is the caller's."""
    width, height = SIZES[size]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        color_scheme=scheme,
        is_mobile=size == "phone",
        has_touch=size == "phone",
        base_url=base_url,
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    return page


def sending_slowly(page, path: str, bytes_per_second: int = 10_000) -> None:
    """Choose `path` on the upload page and start sending it slowly; return once some is sent."""
    page.goto("/")
    slow_uploads(page, bytes_per_second)
    page.set_input_files("#file", path)
    page.click("#upload-button")
    page.wait_for_function("() => document.querySelector('progress')?.value > 0")


def upload_until_done(page, path: str) -> str:
    """Upload one file from the upload page, wait for its thumbnail; return the job's URL."""
    page.goto("/")
    page.set_input_files("#file", path)
    page.click("#upload-button")
    page.wait_for_selector("#renditions img")
    return page.url


def visitor_owner(page) -> str:
    """Return the owner tag of the visitor a browser page is, from its upload form's key."""
    page.goto("/")
    return page.get_attribute("input[name=key]", "value").split("/")[2]


def ticket_for(app, job_id: str, owner: str, age_seconds: float = 0) -> str:
    """Return the ticket the site would have issued for a job `age_seconds` ago."""
    import time

    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    from app.tickets import SALT

    class Then(TimestampSigner):
        def get_timestamp(self):
            return int(time.time() - age_seconds)

    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=SALT, signer=Then)
    return serializer.dumps({"j": job_id, "o": owner})


AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    rule: v.id, impact: v.impact, help: v.help,
    where: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + ": " + n.failureSummary),
  }));
}"""


def violations(page) -> list[dict]:
    """Return what axe-core finds wrong with the page as it is now (axe-core is injected
    through Playwright: the page's Content-Security-Policy allows no inline script)."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(AXE)
    return page.evaluate(RUN_AXE)
