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


def embedded_metrics(line: dict) -> list[tuple[str, str, list]]:
    """Check a line as CloudWatch reads Embedded Metric Format; return its metrics."""
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert isinstance(line["_aws"]["Timestamp"], int)
    assert directive["Namespace"] == "Thumbs"
    found = []
    for metric in directive["Metrics"]:
        assert isinstance(line[metric["Name"]], int | float), metric  # the value is in the line
        assert metric["Unit"] in ("Milliseconds", "Count")
        found.append((metric["Name"], metric["Unit"], directive["Dimensions"]))
    for dimension_set in directive["Dimensions"]:
        assert all(isinstance(line[name], str) for name in dimension_set)  # each one named
    return found


def test_a_finished_job_carries_its_metrics_and_its_invocation(services, uploaded_job, capsys):
    from embedded_aws.context import LambdaContext

    _, key, size = uploaded_job
    context = LambdaContext("thumbs-test")
    capsys.readouterr()
    worker.handle_s3_event(s3_event(services.storage.uploads_bucket, key, size), context)
    logged = lines(capsys)
    (done,) = [line for line in logged if line["event"] == "job_done"]
    assert embedded_metrics(done) == [
        ("conversion_ms", "Milliseconds", [["stage"]]),
        ("total_ms", "Milliseconds", [["stage"]]),
        ("conversions", "Count", [["stage"]]),
    ]
    assert done["stage"] == "test" and done["conversions"] == 1
    assert all(line["aws_request_id"] == context.aws_request_id for line in logged)
    assert all(isinstance(line["cold_start"], bool) for line in logged)


def test_a_failure_is_counted_by_its_code(services, monkeypatch, capsys):
    monkeypatch.setenv("STAGE", "test")
    key = "uploads/job-9/owner-9/notes.jpg"
    put_upload(services, key, b"not a picture")
    capsys.readouterr()
    worker.handle_s3_event(s3_event(services.storage.uploads_bucket, key), None)
    (failed,) = [line for line in lines(capsys) if line["event"] == "job_failed"]
    assert embedded_metrics(failed) == [("failures", "Count", [["stage"], ["stage", "code"]])]
    assert (failed["code"], failed["failures"]) == ("not_an_image", 1)


def test_only_the_first_invocation_of_a_process_is_its_cold_start(capsys):
    import logging

    from app import logs

    logs._cold[0] = True
    logger = logging.getLogger("app.test")
    for number in range(2):
        logs.invocation(type("Context", (), {"aws_request_id": f"request-{number}"})())
        logs.event(logger, "probe")
    first, second = [line for line in lines(capsys) if line["event"] == "probe"]
    assert (first["aws_request_id"], first["cold_start"]) == ("request-0", True)
    assert (second["aws_request_id"], second["cold_start"]) == ("request-1", False)
