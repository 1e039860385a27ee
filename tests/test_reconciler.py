"""The reconciler finds every upload no conversion took up, starts it once, and nothing else;
its calls are bounded by the work left to do, not by the jobs kept."""

import json
import time

import pytest

from app import imaging, reconciler, starts, web, worker
from app.events import Conversions, conversion_event
from app.jobs import DONE, FAILED, PROCESSING, UPLOADED

from support import jpeg_bytes, put_upload, s3_event, stored_keys

LATER = 600  # seconds after the uploads: past the delayed threshold and every deadline


@pytest.fixture
def started(services, monkeypatch):
    """Lambda's asynchronous Invoke, done at once: each start runs the worker with its event."""
    monkeypatch.setenv("STAGE", "test")
    runs = []

    def start(self, upload):
        runs.append(upload)
        worker.handle_s3_event(conversion_event(upload, "us-east-1"), None)

    monkeypatch.setattr(Conversions, "start", start)
    return runs


def arrived(services, job_id: str, data: bytes | None = None) -> str:
    key = f"uploads/{job_id}/owner/photo.jpg"
    put_upload(services, key, data or jpeg_bytes())
    return key


def recover(services):
    return reconciler.recover(services, now=time.time() + LATER)


def test_an_upload_whose_event_and_redirect_were_lost_is_converted(services, started, capsys):
    arrived(services, "lost")
    capsys.readouterr()
    (found,) = recover(services)
    assert (found.reason, found.upload.key.job_id) == (reconciler.NEVER_STARTED, "lost")
    assert services.jobs.get("lost").status == DONE
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    (line,) = [x for x in lines if x["event"] == "job_recovered"]
    assert (line["job_id"], line["reason"], line["visitor"]) == ("lost", "never_started", "owner")
    assert line["waited_ms"] >= LATER * 1000 - 5000
    done = [x for x in lines if x["event"] == "job_done"]
    assert done[0]["started_by"] == "reconciler"


def test_a_job_whose_event_was_lost_after_its_redirect_is_converted(services, started):
    key = arrived(services, "delayed")
    services.jobs.record_upload("delayed", "owner", key, "photo.jpg")
    (found,) = recover(services)
    assert found.reason == reconciler.DELAYED
    assert services.jobs.get("delayed").status == DONE


def test_a_claim_whose_worker_died_and_whose_retries_were_lost_is_taken_again(services, started):
    key = arrived(services, "dead")
    services.jobs.claim("dead", "owner", key, "photo.jpg", time.time() - 1, 3)
    (found,) = recover(services)
    assert found.reason == reconciler.CLAIM_EXPIRED
    job = services.jobs.get("dead")
    assert (job.status, job.attempts) == (DONE, 2)


def test_a_claim_expired_with_its_attempts_spent_ends_failed_with_a_reason(services, started):
    key = arrived(services, "spent")
    for _ in range(3):
        services.jobs.claim("spent", "owner", key, "photo.jpg", time.time() - 1, 3)
    recover(services)
    job = services.jobs.get("spent")
    assert (job.status, job.error_code) == (FAILED, "gave_up")
    assert recover(services) == []  # ended: never started again


def test_what_is_fresh_under_way_or_ended_is_left_alone(services, started, monkeypatch):
    monkeypatch.setattr(imaging, "make_renditions", lambda *a, **k: pytest.fail("converted"))
    arrived(services, "fresh")  # just arrived: its event is surely on its way
    key = arrived(services, "converting")
    services.jobs.claim("converting", "owner", key, "photo.jpg", time.time() + LATER * 2, 3)
    for ended in ("done", "failed", "deleted"):
        key = arrived(services, ended)
        services.jobs.claim(ended, "owner", key, "photo.jpg", time.time() + 60, 3)
    services.jobs.finish("done", [])
    services.jobs.fail("failed", "corrupt", "damaged")
    services.jobs.delete("deleted", "owner")
    assert reconciler.recover(services, now=time.time() + 1) == []
    # Later, only the upload that never started is stranded; the live claim is not; the
    # uploads of the jobs that ended are deleted, and nothing needs them again.
    monkeypatch.setattr(Conversions, "start", lambda self, upload: None)
    later = reconciler.recover(services, now=time.time() + LATER)
    assert [s.upload.key.job_id for s in later] == ["fresh"]
    assert services.jobs.get("converting").status == PROCESSING
    assert services.jobs.get("done").status == DONE
    assert stored_keys(services, services.storage.uploads_bucket) == [
        "uploads/converting/owner/photo.jpg",
        "uploads/fresh/owner/photo.jpg",
    ]


def test_a_recovered_job_converts_once_even_when_its_event_arrives_late(
    services, started, monkeypatch
):
    calls = []
    real = imaging.make_renditions
    monkeypatch.setattr(
        imaging, "make_renditions", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    key = arrived(services, "late")
    recover(services)
    worker.handle_s3_event(s3_event(services.storage.uploads_bucket, key), None)  # at last
    assert recover(services) == []
    assert len(calls) == 1 and services.jobs.get("late").status == DONE


def test_the_reconciler_reads_no_table_in_full(services, started):
    calls = []
    services.jobs.client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.append(model.name)
    )
    for n in range(3):
        arrived(services, f"job{n}")
    recover(services)
    assert "Scan" not in calls and "BatchGetItem" in calls


def test_a_delayed_job_says_it_will_be_picked_up(services):
    key = arrived(services, "waiting")
    services.jobs.record_upload("waiting", "owner", key, "photo.jpg", now=time.time() - 120)
    job = services.jobs.get("waiting")
    assert job.status == UPLOADED
    assert job.shown_status(delayed_after=60) == "delayed"


def counted_calls(services) -> list[str]:
    calls = []
    for client in (services.jobs.client, services.storage.client):
        client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    return calls


def finished_jobs(services, count: int) -> None:
    """Seed `count` finished jobs straight into DynamoDB and S3, as the worker leaves them."""
    for n in range(count):
        job_id = f"kept{n:05d}"
        key = f"uploads/{job_id}/owner/photo.jpg"
        services.jobs.claim(job_id, "owner", key, "photo.jpg", time.time() + 60, 3)
        services.jobs.finish(job_id, [{"name": "thumb", "key": f"results/{job_id}/thumb.jpg"}])
        services.storage.client.put_object(
            Bucket=services.storage.results_bucket, Key=f"results/{job_id}/thumb.jpg", Body=b"t"
        )


@pytest.mark.parametrize("kept", [10, 2000])
def test_a_run_makes_the_same_calls_however_many_finished_jobs_are_kept(services, kept):
    finished_jobs(services, kept)
    calls = counted_calls(services)
    assert recover(services) == []
    assert calls == ["GetItem", "ListObjectsV2"]


def test_a_finished_job_leaves_no_upload_behind(services, started):
    key = arrived(services, "converted")
    worker.handle_s3_event(s3_event(services.storage.uploads_bucket, key), None)
    assert services.jobs.get("converted").status == DONE
    assert stored_keys(services, services.storage.uploads_bucket) == []


def test_files_sent_beyond_the_first_with_one_form_add_no_later_work(services, started):
    first = arrived(services, "form")
    second = "uploads/form/owner/another.jpg"
    put_upload(services, second, jpeg_bytes())
    for key in (first, second):
        worker.handle_s3_event(s3_event(services.storage.uploads_bucket, key), None)
    assert stored_keys(services, services.storage.uploads_bucket) == []
    # Had the second file's event been lost, one run deletes it, and the next sees nothing.
    put_upload(services, second, jpeg_bytes())
    assert recover(services) == []
    assert stored_keys(services, services.storage.uploads_bucket) == []


def test_one_run_reads_one_page_and_the_next_run_carries_on(services, monkeypatch):
    monkeypatch.setattr(reconciler, "PAGE", 3)
    monkeypatch.setattr(Conversions, "start", lambda self, upload: None)
    for n in range(7):
        arrived(services, f"stranded{n}")
    runs = [[s.upload.key.job_id for s in recover(services)] for _ in range(4)]
    assert runs == [
        ["stranded0", "stranded1", "stranded2"],
        ["stranded3", "stranded4", "stranded5"],
        ["stranded6"],
        [],  # each was started, and its backoff has not passed
    ]
    # The third run reached the end: the fourth began again from the start.
    assert services.jobs.reconciler_position() == "uploads/stranded2/owner/photo.jpg"


def test_a_start_is_not_repeated_before_a_doubling_backoff_and_ends_after_five(
    app, services, monkeypatch
):
    started = []
    monkeypatch.setattr(Conversions, "start", lambda self, upload: started.append(upload))
    arrived(services, "unlucky")  # every start of it is lost too
    now = time.time() + LATER
    at = []
    for _ in range(200):  # a run every 2 minutes, for over 6 hours
        if reconciler.recover(services, now=now):
            at.append(now)
        now += 120
    gaps = [round((b - a) / 60) for a, b in zip(at, at[1:])]
    assert len(started) == starts.MAX_RESTARTS == 5 and gaps == [2, 4, 8, 16]
    job = services.jobs.get("unlucky")
    assert (job.status, job.error_code) == (FAILED, "not_started")
    assert job.retryable(services.settings.max_attempts)
    with app.test_request_context():  # what its page says: why, and Try again
        view = web.present(job, "ticket")
    assert view["message"] == starts.NOT_STARTED_MESSAGE and view["retry_url"]
