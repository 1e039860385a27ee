"""Logs are JSON lines with the job id and the visitor's owner tag (a keyed digest), never
the visitor id, a ticket or a presigned link."""

import json

import pytest

from app import worker

from support import SCRIPT, jpeg_bytes, open_upload_page, put_upload, s3_event


def lines(capsys) -> list[dict]:
    return [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]


@pytest.fixture
def uploaded_job(services, monkeypatch):
    monkeypatch.setenv("STAGE", "test")
    key = "uploads/job-123/owner-tag-123/cat.jpg"
    data = jpeg_bytes((2000, 1000))
    put_upload(services, key, data)
    return "job-123", key, len(data)


def test_a_finished_job_logs_its_timings_and_sizes(services, uploaded_job, capsys):
    job_id, key, size = uploaded_job
    capsys.readouterr()
    worker.handle_s3_event(s3_event(services.storage.uploads_bucket, key, size), None)
    (done,) = [line for line in lines(capsys) if line["event"] == "job_done"]
    assert (done["job_id"], done["visitor"]) == (job_id, "owner-tag-123")
    assert done["source_bytes"] == size
    assert done["renditions"]["thumb"]["width"] == 256
    for field in ("queued_ms", "conversion_ms", "total_ms", "peak_rss_mb"):
        assert isinstance(done[field], int) and done[field] >= 0
    assert done["total_ms"] >= done["conversion_ms"]


def test_a_duplicate_is_logged_as_such(services, uploaded_job, capsys):
    _, key, size = uploaded_job
    event = s3_event(services.storage.uploads_bucket, key, size)
    worker.handle_s3_event(event, None)
    capsys.readouterr()
    worker.handle_s3_event(event, None)
    (line,) = lines(capsys)
    assert line["event"] == "duplicate_ignored" and line["reason"] == "already done"


def test_web_lines_carry_the_job_but_never_the_ticket_or_the_visitor(client, capsys):
    form = open_upload_page(client)
    capsys.readouterr()
    client.get(f"/jobs/{form.ticket}/status", headers=SCRIPT)
    output = capsys.readouterr().out
    (line,) = [json.loads(x) for x in output.splitlines() if x.startswith("{")]
    assert line["event"] == "request" and line["endpoint"] == "web.status"
    assert line["status"] == 200 and line["job_id"] == form.job_id
    assert form.ticket not in output
    with client.session_transaction() as session:
        visitor = session["visitor"]
    assert visitor not in output and line["visitor"] == form.owner
