"""The reconciler finds every upload no conversion took up, starts it once, and nothing else."""

import json
import time

import pytest

from app import imaging, reconciler, worker
from app.events import Conversions, conversion_event
from app.jobs import DONE, FAILED, PROCESSING, UPLOADED

from support import jpeg_bytes, put_upload, s3_event

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
    # Later, only the upload that never started is stranded; the live claim is not.
    later = reconciler.stranded(services, now=time.time() + LATER)
    assert [s.upload.key.job_id for s in later] == ["fresh"]
    assert services.jobs.get("converting").status == PROCESSING
    assert services.jobs.get("done").status == DONE


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
