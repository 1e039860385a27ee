"""Nothing stuck, nothing lost, on the embedded AWS: lost events recovered, failed events kept
and replayed, Try again (done, failed again, clicked twice, someone else's), locally as Lambda
would do each."""

import json
import re
import time
from urllib.parse import urlsplit

import pytest
import requests

from app import create_app
from app.config import Settings
from app.services import services_for

from conftest import launch_embedded_aws, settings_for_tests
from support import csrf_token, jpeg_bytes, upload_form

pytestmark = pytest.mark.e2e
STAGE = "recovery"


@pytest.fixture(scope="module")
def lossy_aws():
    """An embedded AWS that loses every S3 event and reconciles every second."""
    with launch_embedded_aws(
        STAGE=STAGE, LOCAL_EVENT_LOSS="1", RECONCILE_SECONDS="1", DELAYED_AFTER_SECONDS="1"
    ) as aws:
        yield aws


@pytest.fixture(scope="module")
def quiet_aws():
    """An embedded AWS that loses every S3 event, never reconciles, and takes armed faults:
    conversions start only when the site or an operator starts them."""
    with launch_embedded_aws(
        STAGE=STAGE,
        LOCAL_EVENT_LOSS="1",
        RECONCILE_SECONDS="0",
        LOCAL_FAULTS="1",
        AWS_MAX_ATTEMPTS="2",  # its worker's calls give up quickly, for the failed-event test
    ) as aws:
        yield aws


def site_on(aws):
    return create_app(
        settings_for_tests(STAGE=STAGE, LOCAL_AWS=True, AWS_ENDPOINT_URL=aws["endpoint"])
    )


def services_on(aws):
    return services_for(Settings(stage=STAGE, aws_endpoint_url=aws["endpoint"], local_aws=True))


def upload(site, data: bytes, filename="photo.jpg", follow=True):
    """Open the page with a test client, post the form to the embedded S3 as a browser does."""
    action, fields = upload_form(site.get("/").get_data(as_text=True))
    answer = requests.post(
        action, data=fields, files={"file": (filename, data, "image/jpeg")}, allow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    redirect = urlsplit(answer.headers["Location"])  # S3 names the bucket, key and etag
    if follow:
        assert site.get(f"{redirect.path}?{redirect.query}").status_code == 303
    return redirect.path.removesuffix("/uploaded"), dict(fields)["key"].removesuffix("${filename}")


def wait_for(site, job_path: str, until, seconds: float = 60) -> dict:
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        status = site.get(job_path + "/status").get_json()
        if until(status):
            return status
        time.sleep(0.2)
    raise AssertionError(f"never reached: {status}")


def lines_about(aws, job_id: str, event: str) -> list[dict]:
    found = []
    for line in list(aws["log"]):
        if line.startswith("{") and job_id in line:
            parsed = json.loads(line)
            if parsed.get("event") == event and parsed.get("job_id") == job_id:
                found.append(parsed)
    return found


def test_with_every_event_lost_an_upload_still_ends_done(lossy_aws):
    site = site_on(lossy_aws).test_client()
    for follow in (True, False):  # with the browser's redirect, and with that lost too
        job_path, prefix = upload(site, jpeg_bytes(), follow=follow)
        status = wait_for(site, job_path, lambda s: s["finished"])
        assert status["status"] == "done", status
        job_id = prefix.split("/")[1]
        (recovered,) = lines_about(lossy_aws, job_id, "job_recovered")
        assert recovered["reason"] == ("delayed" if follow else "never_started")
    assert any('"event": "event_lost"' in line for line in lossy_aws["log"])


def test_a_lost_event_is_started_by_the_page_that_watches_its_job_within_seconds(quiet_aws):
    site = site_on(quiet_aws).test_client()
    job_path, prefix = upload(site, jpeg_bytes())
    status = wait_for(site, job_path, lambda s: s["finished"])
    assert status["status"] == "done", status
    job_id = prefix.split("/")[1]
    (done,) = lines_about(quiet_aws, job_id, "job_done")
    assert done["started_by"] == "watcher"
    job = services_on(quiet_aws).jobs.get(job_id)
    assert 5 <= job.started_at - job.uploaded_at < 60  # WATCHED_START_AFTER_SECONDS, not minutes


def failed_for_good(aws, site, data: bytes):
    """An upload whose every attempt died: as after three timeouts or out-of-memory kills."""
    job_path, prefix = upload(site, data)
    job_id, owner = prefix.split("/")[1:3]
    jobs = services_on(aws).jobs
    for _ in range(3):
        jobs.claim(job_id, owner, prefix + "photo.jpg", "photo.jpg", time.time() - 1, 3)
    status = site.get(job_path + "/status").get_json()
    assert (status["status"], status["error_code"]) == ("failed", "gave_up")
    return job_path, job_id


def try_again(site, job_path: str):
    token = csrf_token(site.get(job_path).get_data(as_text=True))
    return site.post(job_path + "/retry", data={"csrf_token": token})


def test_try_again_converts_the_same_upload_once_however_often_it_is_clicked(quiet_aws):
    site = site_on(quiet_aws).test_client()
    job_path, job_id = failed_for_good(quiet_aws, site, jpeg_bytes())
    page = site.get(job_path).get_data(as_text=True)
    assert re.search(rf'<form method="post" action="{re.escape(job_path)}/retry"', page)
    clicks = [try_again(site, job_path) for _ in range(2)]
    assert clicks[0].status_code == 303 and clicks[0].headers["Location"] == job_path
    status = wait_for(site, job_path, lambda s: s["finished"])
    assert status["status"] == "done"
    assert clicks[1].status_code in (303, 400)  # the second finds it retried or done
    time.sleep(1)
    assert len(lines_about(quiet_aws, job_id, "job_done")) == 1
    job = services_on(quiet_aws).jobs.get(job_id)
    assert (job.attempts, job.retries) == (1, 1)


def test_try_again_on_a_file_that_is_not_an_image_fails_again_with_the_reason(quiet_aws):
    site = site_on(quiet_aws).test_client()
    job_path, _ = failed_for_good(quiet_aws, site, b"Dear diary, this is not a picture.")
    assert try_again(site, job_path).status_code == 303
    status = wait_for(site, job_path, lambda s: s["finished"] and s["error_code"] != "gave_up")
    assert (status["status"], status["error_code"]) == ("failed", "not_an_image")
    assert status["retry_url"] is None  # the file's own fault: a new upload, not a retry
    assert "not an image" in status["message"]


def test_try_again_is_refused_to_another_visitor_and_to_a_finished_job(quiet_aws):
    site = site_on(quiet_aws)
    owner, stranger = site.test_client(), site.test_client()
    job_path, job_id = failed_for_good(quiet_aws, owner, jpeg_bytes())
    token = csrf_token(stranger.get("/").get_data(as_text=True))
    refused = stranger.post(job_path + "/retry", data={"csrf_token": token})
    assert refused.status_code == 403
    assert services_on(quiet_aws).jobs.get(job_id).status != "uploaded"
    assert try_again(owner, job_path).status_code == 303
    assert wait_for(owner, job_path, lambda s: s["finished"])["status"] == "done"
    again = try_again(owner, job_path)
    assert again.status_code == 400
    assert "cannot be tried again" in again.get_data(as_text=True)


def test_an_event_that_failed_for_good_is_kept_and_replayed(quiet_aws):
    site = site_on(quiet_aws)
    browser = site.test_client()
    job_path, prefix = upload(browser, jpeg_bytes(), follow=False)
    services = services_on(quiet_aws)
    # DynamoDB stays down through every delivery (2 tries each, 3 deliveries): the worker
    # cannot even claim the job, so the event fails for good and is kept.
    armed = requests.post(
        quiet_aws["endpoint"] + "/__embedded_aws__/faults",
        json={"service": "dynamodb", "count": 6, "kind": "unavailable"},
    )
    assert armed.ok
    from app.events import Upload

    services.conversions.start(Upload(services.storage.uploads_bucket, prefix + "photo.jpg", 1))
    runner = site.test_cli_runner()
    for _ in range(100):
        listed = runner.invoke(args=["jobs", "failed-events"])
        if "1 failed event" in listed.output:
            break
        time.sleep(0.2)
    assert listed.exit_code == 0, listed.output
    assert f"{prefix}photo.jpg: RetriesExhausted after 3 attempts" in listed.output
    assert "1 failed event" in runner.invoke(args=["jobs", "failed-events"]).output  # kept
    replayed = runner.invoke(args=["jobs", "failed-events", "--replay"])
    assert "replayed" in replayed.output
    status = wait_for(browser, job_path, lambda s: s["finished"])
    assert status["status"] == "done"
    assert "0 failed events" in runner.invoke(args=["jobs", "failed-events"]).output


def test_a_stuck_embedded_aws_fails_the_session_instead_of_hanging():
    import os
    import sys

    from embedded_aws.process import NotReady, running

    stuck = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    printed: list[str] = []
    with pytest.raises(NotReady, match="did not say it was ready within 1 s"):
        with running(dict(os.environ), printed.append, 1, (sys.executable, "-c", stuck)):
            pass
    with pytest.raises(ProcessLookupError):  # stopped and reaped, not left behind
        os.kill(int(printed[0]), 0)
