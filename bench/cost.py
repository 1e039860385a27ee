"""What Thumbs costs on AWS, counted, not estimated: `python -m bench.cost [--quick]`.

Real flows run against the site (in this process, each request metered as an invocation of the
function) on the embedded AWS (`python -m local`, which counts every call it serves by
service and operation, and meters the worker). The counts are priced from one dated table
(bench/prices.py) for each way in (REST API, function URL) and architecture (x86_64, arm64;
arm64 at x86's measured durations). The same counter and prices run over a naive baseline
(bench/naive.py). The report goes to bench/cost.md (bench/out/ with --quick); its last line
is the summary docs/cost.md quotes.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import logging
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench import FOLDER, cost_report
from bench import cost_flows as flows
from bench.cost_report import report

ROOT = FOLDER.parent
STAGE = "bench"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
KEPT = (10, 10_000)
LOST_UPLOADS = 10
REPEATS = 5
# The qualities of the largest rendition the returning visitor's flow is priced at: what
# that knob buys (the site's own is the bill's run).
QUALITIES = (85, 80, 75, 70)
RUNS_A_MONTH = 30 * 24 * 3600 / 120  # the reconciler, every 2 minutes
CONVERSIONS_A_MONTH = 30 * 24 * 3600  # its fixed cost is shared out at 1 conversion a second


def photo() -> bytes:
    """A 12 MP phone photo of about 3 MB, that the naive baseline's 6 MB payload still takes
    (base64 included), made from the benchmark corpus's 12 MP JPEG."""
    from PIL import Image

    from bench.latency import photo_12mp

    with Image.open(photo_12mp()) as image:
        out = io.BytesIO()
        image.save(out, "JPEG", quality=80)
    return out.getvalue()


def as_the_page_sends(data: bytes) -> flows.Photo:
    """Return what the upload page's script sends of `data`: Chromium shrinks it as the page
    does (bench/shrink.py). Without Chromium, the file as chosen, which costs more to convert
    (the report says which it priced)."""
    from bench.latency import CHROMIUM
    from bench.shrink import page_shrinking

    if not os.path.exists(CHROMIUM):
        return flows.Photo(data)
    with tempfile.TemporaryDirectory() as folder:
        chosen = Path(folder) / "photo.jpg"
        chosen.write_bytes(data)
        with page_shrinking() as shrunk:
            sent = shrunk(chosen)
    return flows.Photo(sent, len(data)) if len(sent) < len(data) else flows.Photo(data)


def site_app(endpoint: str, meter):
    from app import create_app

    app = create_app(
        {"SECRET_KEY": SECRET, "STAGE": STAGE, "LOCAL_AWS": True, "AWS_ENDPOINT_URL": endpoint}
    )
    app.wsgi_app = meter.site(app.wsgi_app)
    logging.getLogger("app").setLevel(logging.WARNING)  # a line a request: the report's noise
    return app


def measure(meters, flow, *args) -> tuple[flows.Bill, object]:
    meters.reset()
    browsers = [a for a in args if isinstance(a, flows.Browser)]
    before = sum(b.s3_bytes for b in browsers)
    result = flow(*args)
    time.sleep(0.3)  # the worker's last write and its meter
    bill = meters.read()
    bill.s3_bytes_out = sum(b.s3_bytes for b in browsers) - before
    return bill, result


def run_flows(endpoint: str, data: flows.Photo) -> dict:
    """Every flow the docs price, on one embedded AWS; return each one's bill."""
    from local.meter import Meter

    meter = Meter()
    app = site_app(endpoint, meter)
    meters = flows.Meters(endpoint, meter)
    bills = {}
    visitor = flows.Browser(app)
    bills["first visit"], _ = measure(meters, flows.one_photo, visitor, data)
    bills["returning visitor, one photo, one download"], job = returning(meters, visitor, data)
    bills["three files at once"], _ = measure(meters, flows.several, visitor, data)
    job_url = job["status_url"].removesuffix("/status")
    stranger = flows.Browser(app)
    bills["a share view"], _ = measure(meters, flows.share_view, visitor, stranger, job_url)
    bills["a page view only"], _ = measure(meters, lambda b: b.page("/"), visitor)
    bills["a failed conversion and Try again"] = failed_and_retried(meters, visitor, app, data)
    return {
        "bills": bills,
        "floods": floods(meters, app, data),
        "results_bytes": _weight(job)["results_bytes"],
        "sizes": _weight(job)["sizes"],
    }


def _weight(job: dict) -> dict:
    """What a done job's renditions weigh: in all, and each."""
    return {
        "results_bytes": sum(item.get("size") or 0 for item in job["downloads"]),
        "sizes": {item["name"]: item.get("size") for item in job["downloads"]},
    }


def returning(meters, visitor, data: flows.Photo) -> tuple[flows.Bill, dict]:
    """The flow the bill is for, and its job: the median of a few runs by duration, as a
    shared machine's load makes one run's seconds wander."""
    runs = sorted(
        (measure(meters, flows.one_photo, visitor, data) for _ in range(REPEATS)),
        key=lambda run: sum(t.get("seconds", 0) for t in run[0].function.values()),
    )
    return runs[len(runs) // 2]


def qualities_with_the_largest_at(quality: int) -> dict[int, int]:
    """The site's rendition qualities (by longest side), its largest rendition's at `quality`."""
    from app.config import Settings

    qualities = Settings().rendition_qualities
    return {**qualities, max(qualities): quality}


def at_quality(quality: int, data: flows.Photo) -> dict:
    """The returning visitor's flow with the largest rendition at `quality`: its bill, what
    its renditions weigh, and how close each is (SSIM) to its exact pixels."""
    from app.config import Settings
    from local.meter import Meter

    qualities = qualities_with_the_largest_at(quality)
    specs = ",".join(
        f"{name}:{side}:{qualities[side]}" for name, side in Settings().rendition_specs
    )
    with launch(RENDITIONS=specs) as endpoint:
        meter = Meter()
        meters = flows.Meters(endpoint, meter)
        visitor = flows.Browser(site_app(endpoint, meter))
        visitor.page("/")
        bill, job = returning(meters, visitor, data)
    return {"bill": bill, **_weight(job), "ssim": _closeness(data.data, qualities)}


def _closeness(data: bytes, qualities: dict[int, int]) -> dict[str, float]:
    from bench.shrink import renditions
    from bench.ssim import ssim

    exact, made = renditions(data, "png"), renditions(data, qualities=qualities)
    return {name: ssim(made[name], pixels) for name, pixels in exact.items()}


def failed_and_retried(meters, browser, app, data) -> flows.Bill:
    """A job whose every attempt died (as after three timeouts): its page, Try again."""
    services = _services(app)
    first = _first_upload(browser)
    stored = browser.send(first["upload"], "dies.jpg", data)
    job_id, owner = stored["key"].split("/")[1:3]
    time.sleep(1.5)  # its event converts it: take the job back to failed, as a crash leaves it
    services.jobs.client.put_item(
        TableName=services.settings.jobs_table,
        Item={
            "job_id": {"S": job_id},
            "owner": {"S": owner},
            "status": {"S": "failed"},
            "error_code": {"S": "gave_up"},
            "error_message": {"S": "died"},
            "source_key": {"S": stored["key"]},
            "filename": {"S": "dies.jpg"},
            "created_at": {"N": str(time.time())},
            "attempts": {"N": "3"},
            "retries": {"N": "0"},
        },
    )
    services.storage.client.put_object(
        Bucket=services.settings.uploads_bucket, Key=stored["key"], Body=data.data
    )
    bill, _ = measure(meters, flows.retry, browser, first["job_url"], first["status_url"])
    return bill


# An etag as S3 gives one (quoted MD5): the site looks such a file up, where it refuses a
# malformed one without a call.
ETAG = requests.utils.quote('"' + "0" * 32 + '"', safe="")
FLOODS = {
    "the upload page": lambda b, t, prefix: b.site.get("/", headers={"Accept": "text/html"}),
    "a job page, its file not arrived": lambda b, t, prefix: b.site.get(f"/jobs/{t}"),
    "a status, its file not arrived": lambda b, t, prefix: b.site.get(
        f"/jobs/{t}/status?wait=10&since=awaiting_upload", headers={"Accept": "application/json"}
    ),
    "the upload's redirect, naming a file that never arrived": lambda b, t, prefix: b.site.get(
        f"/jobs/{t}/uploaded?bucket=thumbs-{STAGE}-uploads&key={prefix}never.jpg&etag={ETAG}"
    ),
}


def floods(meters, app, data, repeats: int = 20) -> dict:
    """Each request a flood can repeat for the price of one page view: its calls per request;
    and the one exception, the long poll on a job under way."""
    browser = flows.Browser(app)
    first = _first_upload(browser)
    ticket = first["job_url"].rsplit("/", 1)[1]
    prefix = first["upload"]["fields"]["key"].removesuffix("${filename}")
    found = {}
    for name, ask in FLOODS.items():
        bill, _ = measure(
            meters, lambda ask=ask: [ask(browser, ticket, prefix) for _ in range(repeats)]
        )
        found[name] = bill.scaled(1 / repeats)
    # Its reads are bounded by STATUS_WAIT_SECONDS: measured on a job claimed by a worker
    # that never finishes, so the poll waits its whole time.
    first = _first_upload(browser)
    key = first["upload"]["fields"]["key"].replace("${filename}", "held.jpg")
    job_id, owner = key.split("/")[1:3]
    _services(app).jobs.claim(job_id, owner, key, "held.jpg", time.time() + 600, 3)
    bill, _ = measure(
        meters,
        lambda: browser.site.get(
            f"{first['status_url']}?wait=10&since=processing",
            headers={"Accept": "application/json"},
        ),
    )
    found["a converting job's status, long-polled (its whole wait)"] = bill
    return found


def _first_upload(browser) -> dict:
    """Open the upload page; return the upload its script would send the first file with."""
    page = browser.page("/").get_data(as_text=True)
    return json.loads(html.unescape(re.search(r'data-first="([^"]+)"', page).group(1)))


def _services(app):
    from app.services import current_settings, services_for

    with app.app_context():
        return services_for(current_settings())


def reconciler_runs(endpoint: str) -> dict[int, flows.Bill]:
    """One reconciler run's calls with 10 and with 10,000 finished jobs kept, seeded straight
    into DynamoDB and S3 as the worker leaves them (their uploads deleted, their results kept)."""
    from app import reconciler
    from app.config import Settings
    from app.services import services_for
    from local.meter import Meter

    services = services_for(Settings(stage=STAGE, aws_endpoint_url=endpoint, local_aws=True))
    meters = flows.Meters(endpoint, Meter())
    found, seeded = {}, 0
    for kept in KEPT:
        _seed(services, seeded, kept)
        seeded = kept
        meters.reset()
        started = time.perf_counter()
        reconciler.recover(services)
        seconds = time.perf_counter() - started
        bill = meters.read()
        bill.function["reconciler"] = {"invocations": 1, "seconds": seconds}
        found[kept] = bill
    return found


def _seed(services, start: int, end: int) -> None:
    table, results = services.settings.jobs_table, services.settings.results_bucket

    def job(n: int) -> None:
        job_id = f"kept{n:06d}"
        services.storage.client.put_object(
            Bucket=results, Key=f"results/{job_id}/thumb.jpg", Body=b"thumb"
        )

    items = [
        {
            "PutRequest": {
                "Item": {
                    "job_id": {"S": f"kept{n:06d}"},
                    "owner": {"S": f"owner{n % 97}"},
                    "status": {"S": "done"},
                    "created_at": {"N": str(time.time())},
                    "source_key": {"S": f"uploads/kept{n:06d}/owner/photo.jpg"},
                }
            }
        }
        for n in range(start, end)
    ]
    for at in range(0, len(items), 25):
        services.jobs.client.batch_write_item(RequestItems={table: items[at : at + 25]})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(job, range(start, end)))


def lost_events(endpoint: str, data: flows.Photo) -> tuple[list[float], flows.Bill]:
    """Uploads whose S3 event is lost, each watched by its page: seconds from the upload to
    done, and what one cost."""
    from local.meter import Meter

    meter = Meter()
    app = site_app(endpoint, meter)
    meters = flows.Meters(endpoint, meter)
    browser = flows.Browser(app)
    browser.page("/")
    seconds, total = [], flows.Bill()
    for _ in range(LOST_UPLOADS):
        meters.reset()
        before = browser.s3_bytes
        started = time.perf_counter()
        job = flows.one_photo(browser, data, downloads=1)
        assert job["status"] == "done", job
        seconds.append(time.perf_counter() - started)
        time.sleep(0.3)
        bill = meters.read()
        bill.s3_bytes_out = browser.s3_bytes - before
        total.add(bill)
    return seconds, total.scaled(1 / LOST_UPLOADS)


def naive(endpoint: str, data: bytes, big: bytes) -> tuple[flows.Bill, list[int]]:
    """The naive baseline's returning visitor, one photo and one download; and what its
    payload limit refuses."""
    from app.config import Settings
    from bench.naive import create_naive_app
    from local.meter import Meter

    meter = Meter()
    app = create_naive_app(Settings(stage=STAGE, aws_endpoint_url=endpoint, local_aws=True))
    app.wsgi_app = meter.site(app.wsgi_app)
    meters = flows.Meters(endpoint, meter)
    browser = flows.Browser(app)
    browser.cached_static = True

    def visit() -> None:
        browser.site.get("/")
        done = browser.site.post("/upload", data={"file": (io.BytesIO(data), "p.jpg")})
        assert done.status_code == 200, done.status_code
        page = done.get_data(as_text=True)
        for src in re.findall(r'<img src="([^"]+)"', page):
            browser.load_from_s3(src.replace("&amp;", "&"))
        link = re.search(r'<a href="([^"]+)"', page).group(1)
        browser.load_from_s3(browser.site.get(link).headers["Location"])

    visit()  # warm, as the returning visitor's flow is measured warm
    bill, _ = measure(meters, visit)
    bill.s3_bytes_out = browser.s3_bytes / 2
    refused = browser.site.post("/upload", data={"file": (io.BytesIO(big), "big.jpg")})
    return bill, [refused.status_code, len(big), *app.config["refused"]]


def launch(**variables: str):
    from embedded_aws.process import running
    from local import LOCAL_COMMAND

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        STAGE=STAGE,
        LOCAL_AWS_PORT="0",
        RECONCILE_SECONDS="0",
        PYTHONUNBUFFERED="1",
        **variables,
    )
    return running(env, lambda line: None, command=LOCAL_COMMAND, cwd=ROOT)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the report under bench/out/")
    args, _ = parser.parse_known_args(argv)
    out = FOLDER / "out" if args.quick else FOLDER
    out.mkdir(exist_ok=True)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    data = photo()
    sent = as_the_page_sends(data)
    from bench.latency import photo_12mp

    big = photo_12mp().read_bytes()
    with launch() as endpoint:
        measured = run_flows(endpoint, sent)
        # The naive page sends what the same script would: the design differs, not the file.
        measured["naive"], measured["refused"] = naive(endpoint, sent.data, big)
        measured["reconciler"] = reconciler_runs(endpoint)
    with launch(LOCAL_EVENT_LOSS="1") as endpoint:
        measured["lost"], measured["bills"]["a lost event, recovered while watched"] = lost_events(
            endpoint, sent
        )
    from app.config import Settings

    qualities = Settings().rendition_qualities
    own = measured["own_quality"] = qualities[max(qualities)]
    measured["qualities"] = {
        own: {
            "bill": measured["bills"][cost_report.RETURNING],
            "results_bytes": measured["results_bytes"],
            "sizes": measured["sizes"],
            "ssim": _closeness(sent.data, qualities),
        },
        **{q: at_quality(q, sent) for q in QUALITIES if q != own},
    }
    measured["photo_bytes"] = len(data)
    measured["sent_bytes"] = len(sent.data)
    text, summary = report(measured)
    (out / "cost.md").write_text(text)
    print(text)
    print(f"written to {Path(out / 'cost.md').relative_to(ROOT)}")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
