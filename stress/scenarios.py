"""Random routing with duplicate and late events, and transient AWS faults."""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
from PIL import Image, ImageDraw

from app import infra
from app.config import Settings
from app.jobs import DONE, FAILED, PROCESSING, STALLED
from app.services import services_for
from tests.support import put_upload, s3_event

from .cluster import ROOT, Cluster, Visitor
from .crash import STEPS

# The crashing invocations' own time limit: their claims expire this soon after.
CRASH_TIMEOUT = 2.0


@dataclass
class Outcome:
    """What a scenario saw: counts for the summary, and every problem in words."""

    name: str
    counts: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return not self.problems


def colour(n: int) -> tuple[int, int, int]:
    """Return a colour of its own for flow `n`, far enough from its neighbours to tell apart."""
    return ((n * 67) % 200 + 30, (n * 131) % 200 + 30, (n * 29) % 200 + 30)


def picture(n: int, size=(1600, 1200)) -> bytes:
    image = Image.new("RGB", size, colour(n))
    ImageDraw.Draw(image).rectangle([0, 0, size[0] // 10, size[1] // 10], fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def full_flow(cluster: Cluster, n: int, late_redirect: bool) -> tuple[str | None, str | None]:
    """Run one visitor's flow, every request to a random instance; (job id, problem or None)."""
    visitor = Visitor(cluster)
    answer, job_id = visitor.upload(f"flow {n}.jpg", picture(n))
    if answer.status_code != 303:
        return job_id, f"flow {n}: S3 answered {answer.status_code}"
    uploaded = answer.headers["Location"]
    job_path = uploaded.split("?")[0].rsplit("/uploaded", 1)[0]
    if late_redirect:
        # The worker finishes before the browser's redirect arrives.
        visitor.wait(job_path)
    landed = visitor.get(uploaded, allow_redirects=False)
    if landed.status_code != 303:
        return job_id, f"flow {n}: the redirect answered {landed.status_code}"
    if visitor.get(landed.headers["Location"]).status_code != 200:
        return job_id, f"flow {n}: the job page did not open"
    status = visitor.wait(job_path)
    if status.get("status") != "done":
        return job_id, f"flow {n}: ended {status.get('status')}: {status.get('message')}"
    thumb = next(r for r in status["renditions"] if r["name"] == "thumb")
    image = Image.open(io.BytesIO(requests.get(thumb["src"], timeout=60).content)).convert("RGB")
    got = image.getpixel((image.width - 1, image.height - 1))
    if max(image.size) > 256 or any(abs(a - b) > 12 for a, b in zip(got, colour(n), strict=False)):
        return job_id, f"flow {n}: wrong thumbnail ({image.size}, colour {got} not {colour(n)})"
    disposition = visitor.get(thumb["download_url"]).headers["Content-Disposition"]
    if f"flow {n}-thumb.jpg" not in disposition:
        return job_id, f"flow {n}: download named {disposition!r}"
    return job_id, None


def random_routing(cluster: Cluster, flows: int) -> tuple[Outcome, Outcome]:
    """Concurrent full flows across the instances, with every S3 event delivered thrice."""
    routing, duplicates = Outcome("random routing"), Outcome("duplicate events")
    seen_before = len(cluster.worker_events("duplicate_ignored"))
    with ThreadPoolExecutor(max_workers=flows) as pool:
        results = list(
            pool.map(lambda n: full_flow(cluster, n, late_redirect=n % 2 == 1), range(flows))
        )
    jobs = {job_id for job_id, _ in results}
    routing.counts.update(
        flows=flows, instances=cluster.size, done=sum(problem is None for _, problem in results)
    )
    routing.problems += [problem for _, problem in results if problem]
    time.sleep(2)  # let the last duplicate deliveries report
    # A conversion ends in job_done, or in job_gone when another claimant finished first.
    conversions = Counter(
        e["job_id"]
        for name in ("job_done", "job_gone")
        for e in cluster.worker_events(name)
        if e["job_id"] in jobs
    )
    twice = [job for job, count in conversions.items() if count > 1]
    duplicates.counts.update(
        jobs=len(jobs),
        converted_once=sum(count == 1 for count in conversions.values()),
        duplicates_ignored=len(cluster.worker_events("duplicate_ignored")) - seen_before,
        late_redirects=flows // 2,
    )
    duplicates.problems += [f"job {job} was converted {conversions[job]} times" for job in twice]
    return routing, duplicates


def transient_faults(cluster: Cluster, flows: int = 8) -> Outcome:
    """Throttling and 5xx from S3 and DynamoDB: retried with backoff, reported once spent."""
    outcome = Outcome("transient AWS faults")
    cluster.faults(service="dynamodb", count=4, kind="throttle")
    cluster.faults(service="dynamodb", count=2, kind="unavailable")
    cluster.faults(service="s3", count=3, kind="throttle")
    cluster.faults(service="s3", count=2, kind="unavailable")
    with ThreadPoolExecutor(max_workers=flows) as pool:
        results = list(pool.map(lambda n: full_flow(cluster, 1000 + n, False), range(flows)))
    outcome.problems += [problem for _, problem in results if problem]
    served = sum(cluster.faults()["served"].values())
    outcome.counts.update(injected=served, flows_done=sum(p is None for _, p in results))
    if served < 11:
        outcome.problems.append(f"only {served} of 11 armed faults were met")
    outcome.problems += _retries_spent(cluster, outcome)
    return outcome


def _retries_spent(cluster: Cluster, outcome: Outcome) -> list[str]:
    """Once botocore's retries are spent, the person is told, and the site recovers."""
    visitor = Visitor(cluster)
    visitor.get("/")  # a visitor, so that their history reads the table
    cluster.faults(service="dynamodb", count=50, kind="unavailable")
    page = visitor.get("/jobs")
    cluster.faults(clear=True)
    problems = []
    if page.status_code != 503 or "try again" not in page.text:
        problems.append(f"with DynamoDB down the history answered {page.status_code}")
    if visitor.get("/jobs").status_code != 200:
        problems.append("the site did not recover once DynamoDB was back")
    outcome.counts.update(reported_after_retries=1 if page.status_code == 503 else 0)
    return problems


def crashes(cluster: Cluster) -> Outcome:
    """The worker dies at each step in turn; a retry finishes the job, or it fails with why."""
    outcome = Outcome("crashes")
    env = {**cluster.env, "STAGE": "stresscrash", "AWS_ENDPOINT_URL": cluster.endpoint}
    settings = Settings.from_env(env)
    # Its own buckets, with no trigger: only these invocations see the uploads.
    infra.up(settings, log=lambda message: None)
    services = services_for(settings)
    for step in STEPS:
        for mode in ("error", "kill"):
            problem = _crash_and_recover(services, env, step, mode)
            outcome.counts["survived" if problem is None else "lost"] += 1
            if problem:
                outcome.problems.append(f"{step}/{mode}: {problem}")
    problem = _crash_until_given_up(services, env, settings.max_attempts)
    outcome.counts["failed_with_reason"] += problem is None
    if problem:
        outcome.problems.append(problem)
    return outcome


def _new_upload(services) -> tuple[str, dict]:
    job_id = secrets.token_hex(8)
    key = f"uploads/{job_id}/crash-visitor/crash.jpg"
    data = picture(7, size=(1200, 900))
    put_upload(services, key, data)
    return job_id, s3_event(services.storage.uploads_bucket, key, len(data))


def _invoke(env: dict, event: dict, step: str = "none", mode: str = "error") -> int:
    return subprocess.run(
        [sys.executable, "-m", "stress.crash", step, mode, str(CRASH_TIMEOUT)],
        input=json.dumps(event),
        text=True,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ).returncode


def _wait_until_stalled(services, job_id: str) -> bool:
    for _ in range(100):
        if services.jobs.get(job_id).shown_status() == STALLED:
            return True
        time.sleep(0.1)
    return False


def _crash_and_recover(services, env: dict, step: str, mode: str) -> str | None:
    job_id, event = _new_upload(services)
    if _invoke(env, event, step, mode) == 0:
        return "the crash did not happen"
    job = services.jobs.get(job_id)
    if mode == "error" and (job.shown_status() != STALLED or not job.last_error):
        return f"after a recorded crash the job shows {job.shown_status()}"
    if mode == "kill":
        if job.shown_status() != PROCESSING:
            return f"right after a kill the job shows {job.shown_status()}"
        _invoke(env, event)  # an early retry must leave a claim that may still be live alone
        if services.jobs.get(job_id).attempts != 1:
            return "a retry took the job before its deadline"
        if not _wait_until_stalled(services, job_id):
            return "the job never showed as stalled"
    if _invoke(env, event) != 0:
        return "the retry failed"
    job = services.jobs.get(job_id)
    stored = services.storage.client.list_objects_v2(
        Bucket=services.storage.results_bucket, Prefix=f"results/{job_id}/"
    ).get("KeyCount")
    if job.status != DONE or job.attempts != 2 or stored != 2:
        return f"ended {job.status} after {job.attempts} attempts with {stored} results"
    return None


def _crash_until_given_up(services, env: dict, attempts: int) -> str | None:
    job_id, event = _new_upload(services)
    for _ in range(attempts):
        _invoke(env, event, "after_read", "kill")
        if not _wait_until_stalled(services, job_id):
            return "gave up: the job never showed as stalled"
    _invoke(env, event)
    job = services.jobs.get(job_id)
    if job.status != FAILED or job.error_code != "gave_up" or not job.error_message:
        return f"after {attempts} crashes the job is {job.status}, not failed with a reason"
    return None


def lost_events(cluster: Cluster, flows: int = 30) -> Outcome:
    """A third of S3's events never reach the worker; every job must still finish.

    Half the visitors' redirects are lost too, so some jobs have no record at all when their
    event is lost: the reconciler finds those from S3's listing alone; the others are started
    by the page that watches them.
    """
    outcome = Outcome("lost events")
    started = time.monotonic()

    def flow(n: int) -> str | None:
        visitor = Visitor(cluster)
        answer, job_id = visitor.upload(f"lost {n}.jpg", picture(n, size=(800, 600)))
        if answer.status_code != 303:
            return f"flow {n}: S3 answered {answer.status_code}"
        uploaded = answer.headers["Location"]
        if n % 2 == 0:
            visitor.get(uploaded, allow_redirects=False)
        status = visitor.wait(uploaded.split("?")[0].rsplit("/uploaded", 1)[0], polls=240)
        if status.get("status") != "done":
            return f"flow {n} ({job_id}): ended {status.get('status')}: {status.get('message')}"
        return None

    with ThreadPoolExecutor(max_workers=10) as pool:
        problems = [p for p in pool.map(flow, range(flows)) if p]
    outcome.problems += problems
    # S3's test event, sent when the bucket's notifications are set, may be lost too: it
    # announces no upload, so there is nothing to recover.
    lost = [e for e in cluster.worker_events("event_lost") if e.get("keys")]
    # A lost event's conversion is started by the page that watches it or by the reconciler
    # (the worker's line names which); give the log a moment to catch up with the last.
    for _ in range(50):
        recovered = [
            e
            for e in cluster.worker_events("job_done")
            if e.get("started_by") in ("watcher", "reconciler")
        ]
        if len(recovered) >= len(lost):
            break
        time.sleep(0.1)
    waits = sorted(e["waited_ms"] for e in cluster.worker_events("job_recovered")) or [0]
    outcome.counts.update(
        flows=flows,
        done=flows - len(problems),
        events_lost=len(lost),
        recovered=len(recovered),
        slowest_recovery_s=round(waits[-1] / 1000, 1) if waits else 0,
        all_done_in_s=round(time.monotonic() - started),
    )
    if not lost:
        outcome.problems.append("no event was lost: the scenario proved nothing")
    if len(recovered) < len(lost):
        outcome.problems.append(f"{len(lost)} events lost, only {len(recovered)} recovered")
    return outcome
