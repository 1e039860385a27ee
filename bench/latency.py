"""From choosing a 12 MP photo to its thumbnail in the page, in Chromium, against the site on
the embedded AWS as `make run` serves it: `python -m bench.latency [--quick] [--uploads N]
[--profile slow-phone]`.

The clock is the page's own: it starts when the file input reports the choice (its `change`
event) and stops at the first frame after the thumbnail has loaded on the job's page. The
click on "Upload and convert" follows the choice at once, as a quick person's would.

`--profile slow-phone` throttles the page's network (not its processor) through Chromium's
DevTools protocol as a phone on a weak signal has it, and times, as its baseline, a few
uploads of the original as it is (the page told not to shrink it, as before it could).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench import corpus

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.8


@dataclass(frozen=True)
class Profile:
    """A network as Network.emulateNetworkConditions takes it (bytes per second, ms)."""

    target_seconds: float
    download: float = -1  # -1: not throttled
    upload: float = -1
    latency: float = 0
    baseline_uploads: int = 0  # uploads of the original as it is, timed as the baseline


PROFILES = {
    "none": Profile(TARGET_SECONDS),
    # 1.5 Mbit/s down, 750 kbit/s up, 300 ms: a phone on a train.
    "slow-phone": Profile(10.0, 1_500_000 / 8, 750_000 / 8, 300, baseline_uploads=3),
}
# Tells the page not to shrink (as the form is parsed, before the page's script reads it).
SEND_AS_IS = """new MutationObserver((_, watching) => {
    const form = document.getElementById("upload");
    if (form) { form.dataset.shrinkFactor = "0"; watching.disconnect(); }
}).observe(document, {childList: true, subtree: true});"""
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Marks the moments on the page's own clock, across the navigation to the job's page.
CLOCK = """
const mark = (name, at) => sessionStorage.setItem(name, String(Math.round(at)));
addEventListener("change", (event) => {
  if (event.target.id === "file") mark("chosen", Date.now());
}, true);
// The upload's own timing, kept across the navigation that follows it.
addEventListener("pagehide", () => {
  const post = performance.getEntriesByType("resource")
    .filter((e) => e.initiatorType === "xmlhttprequest" && e.name.includes("uploads")).pop();
  if (post) {
    mark("uploadStart", performance.timeOrigin + post.startTime);
    mark("uploadEnd", performance.timeOrigin + post.responseEnd);
  }
});
// A Document's parent is no Window for "load" events: listen on the document.
document.addEventListener("load", (event) => {
  const img = event.target;
  if (img.tagName === "IMG" && img.closest("#renditions") && img.dataset.name === "thumb") {
    requestAnimationFrame(() => {
      const status = performance.getEntriesByType("resource")
        .filter((e) => e.name.includes("/status")).pop();
      const page = performance.getEntriesByType("navigation")[0];
      mark("pageShown", performance.timeOrigin + page.domInteractive);
      if (status) mark("statusAnswered", performance.timeOrigin + status.responseEnd);
      mark("thumbShown", Date.now());
    });
  }
}, true);
"""


# The development server's access log: one line for each request that reached the site.
ACCESS = re.compile(r'"(?:\x1b\[[\d;]*m)?(?:GET|POST) (\S+) HTTP')


@contextlib.contextmanager
def site_served():
    """Serve the site (serve_site) in a folder of its own; yield its URL, the access log's path
    and the folder; stop it and remove the folder after."""
    folder = tempfile.TemporaryDirectory()
    log = Path(folder.name) / "site.log"
    with log.open("w") as out:
        site, url = serve_site(out)
    try:
        yield url, log, Path(folder.name)
    finally:
        site.terminate()
        site.wait(timeout=10)
        folder.cleanup()


def serve_site(log) -> tuple[subprocess.Popen, str]:
    """Run `flask run` on the embedded AWS (as `make run` does) on free ports, its access log
    to `log`; return it and its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(FLASK_APP="local", LOCAL_AWS_PORT="0", PYTHONUNBUFFERED="1")
    site = subprocess.Popen(
        [sys.executable, "-m", "flask", "run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return site, url
        except OSError:
            time.sleep(0.2)
    site.kill()
    raise SystemExit("the site did not start within 60 s")


def photo_12mp() -> Path:
    """Return the benchmark corpus's 12 MP JPEG, made if it is not there yet."""
    sample = next(s for s in corpus.SAMPLES if s.filename == "baseline-12mp.jpg")
    if not sample.path.exists():
        sample.path.parent.mkdir(parents=True, exist_ok=True)
        sample.make(sample.path, sample.size)
    return sample.path


def one_upload(page, url: str, path: Path, log: Path) -> tuple[dict, list[str]]:
    """Upload `path` from the upload page; return its moments (seconds, the page's clock),
    and the requests that reached the site (its access log: a cached file never reaches it)."""
    start = log.stat().st_size
    page.goto(url + "/")
    page.wait_for_load_state("networkidle")
    page.set_input_files("#file", str(path))
    page.click("#upload-button")
    page.wait_for_function("() => sessionStorage.thumbShown", polling=50)
    marks = page.evaluate("() => Object.assign({}, sessionStorage)")
    page.evaluate("() => sessionStorage.clear()")
    page.wait_for_load_state("networkidle")
    time.sleep(0.1)  # the log's last line
    with log.open() as lines:
        lines.seek(start)
        written = lines.readlines()
    hits = [m.group(1) for m in map(ACCESS.search, written) if m]
    marks = {name: int(value) / 1000 for name, value in marks.items()}
    for line in written:  # the site's own account: the worker's, and the status's wait
        if '"job_done"' in line:
            done = json.loads(line)
            marks.update(queued=done["queued_ms"] / 1000, converting=done["conversion_ms"] / 1000)
        elif '"web.status"' in line:
            marks["waited"] = json.loads(line)["ms"] / 1000
    return marks, [hit for hit in hits if hit != "/healthz"]


def throttle(page, profile: Profile) -> None:
    """Hold the page's network to `profile`, across its navigations (one DevTools session)."""
    if profile.download < 0 and profile.upload < 0:
        return
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": profile.latency,
            "downloadThroughput": profile.download,
            "uploadThroughput": profile.upload,
        },
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency")
    parser.add_argument("--quick", action="store_true", help="10 uploads instead of 20")
    parser.add_argument("--uploads", type=int, help="how many uploads to time (at least 5)")
    parser.add_argument("--profile", choices=PROFILES, default="none", help="the network")
    args, _ = parser.parse_known_args(argv)
    profile = PROFILES[args.profile]
    throttled = profile is not PROFILES["none"]
    if throttled:  # each upload takes seconds: fewer of them
        uploads = max(5, args.uploads or (5 if args.quick else 10))
    else:
        uploads = max(10, args.uploads or (10 if args.quick else 20))
    if not os.path.exists(CHROMIUM):
        print(f"Upload to thumbnail: skipped, no Chromium at {CHROMIUM} (apt install chromium)")
        return 0
    from playwright.sync_api import sync_playwright

    path = photo_12mp()
    with site_served() as (url, log, folder), sync_playwright() as playwright:
        # A profile on disk, as a returning visitor's: its cache keeps the stylesheet.
        context = playwright.chromium.launch_persistent_context(
            str(folder / "profile"),
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu"],
            viewport={"width": 1280, "height": 800},
            base_url=url,
        )
        context.add_init_script(CLOCK)
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(180_000)
        throttle(page, profile)
        # A first visit: fills the cache, warms the worker.
        _, first = one_upload(page, url, path, log)
        moments, requests = [], []
        for _ in range(uploads):
            marks, hits = one_upload(page, url, path, log)
            moments.append(marks)
            requests.append(hits)
        baseline = []
        if profile.baseline_uploads:
            as_is = context.new_page()
            as_is.set_default_timeout(180_000)
            as_is.add_init_script(SEND_AS_IS)
            throttle(as_is, profile)
            for _ in range(profile.baseline_uploads):
                baseline.append(one_upload(as_is, url, path, log)[0])
        context.close()
    report(moments, requests, first, path, args.profile, baseline)
    return 0


# Where the time goes: each part from one moment to the next (median over the uploads).
PARTS = [
    ("choice to upload start (click, forms)", "chosen", "uploadStart"),
    ("upload to S3", "uploadStart", "uploadEnd"),
    ("S3's answer to the job's page shown", "uploadEnd", "pageShown"),
    ("page to the status answering done", "pageShown", "statusAnswered"),
    ("done to the thumbnail painted", "statusAnswered", "thumbShown"),
]


def report(
    moments: list[dict],
    requests: list[list[str]],
    first: list[str],
    path: Path,
    profile: str = "none",
    baseline: list[dict] = (),
) -> None:
    times = [m["thumbShown"] - m["chosen"] for m in moments]
    p50, p90, most = statistics.median(times), percentile(times, 0.9), max(times)
    size = path.stat().st_size / 1e6
    target = PROFILES[profile].target_seconds
    network = "" if profile == "none" else f", network throttled as {profile} ({_network(profile)})"
    print(
        f"Upload to thumbnail, 12 MP JPEG ({size:.1f} MB), Chromium against the site on the "
        f"embedded AWS{network}, {len(times)} uploads by a returning visitor:"
    )
    verdict = "met" if p50 <= target else "NOT met"
    print(
        f"  p50 {p50:.2f} s, p90 {p90:.2f} s, max {most:.2f} s; target p50 <= {target} s: {verdict}"
    )
    if baseline:
        before = statistics.median(m["thumbShown"] - m["chosen"] for m in baseline)
        print(
            f"  baseline, the original sent as it is ({len(baseline)} uploads): p50 "
            f"{before:.2f} s; shrunk in the browser: {p50 / before:.2f}x the time"
        )
    for label, start, end in PARTS:
        spans = [m[end] - m[start] for m in moments if start in m and end in m]
        if spans:
            print(f"    {label}: {statistics.median(spans) * 1000:.0f} ms")
    for label, name in (
        ("S3 event to the worker", "queued"),
        ("the worker", "converting"),
        ("the status request, waiting", "waited"),
    ):
        spans = [m[name] for m in moments if name in m]
        if spans:
            print(f"    of which, on the server: {label} {statistics.median(spans) * 1000:.0f} ms")
    counts = sorted(len(hits) for hits in requests)
    print(
        f"  requests that reached the site per upload: {statistics.median(counts):.0f} "
        f"(from {counts[0]} to {counts[-1]}): {', '.join(_shape(requests[0]))}"
    )
    print(f"  on a first visit: {len(first)}: {', '.join(_shape(first))}")


def _network(profile: str) -> str:
    shape = PROFILES[profile]
    return (
        f"{shape.download * 8 / 1e6:g} Mbit/s down, {shape.upload * 8 / 1e3:g} kbit/s up, "
        f"{shape.latency:g} ms"
    )


def _shape(hits: list[str]) -> list[str]:
    """Name the requests of one upload without their tickets."""
    names = []
    for hit in hits:
        path = hit.split("?", 1)[0]
        parts = path.split("/")
        if len(parts) > 2 and parts[1] == "jobs":
            parts[2] = "<ticket>"
        names.append("/".join(parts) or "/")
    return names


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
