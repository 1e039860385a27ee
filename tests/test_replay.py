"""`flask jobs failed-events --replay` starts again only the uploads to its own stage: anything
else that reached the failed-events queue (the function's role may write to it) is listed,
escaped, and left where it was."""

import json

import pytest

from app.events import Conversions, Upload, conversion_event
from app.services import client

from support import s3_event

KEY = "uploads/job-1/owner-1/holiday photo.jpg"


def kept(payload, error: str = "RetriesExhausted") -> str:
    """Return the record Lambda's on-failure destination writes for `payload`."""
    return json.dumps(
        {
            "timestamp": "2026-11-27T09:15:41.208Z",
            "requestContext": {"condition": error, "approximateInvokeCount": 3},
            "requestPayload": payload,
            "responsePayload": {"errorType": "ClientError", "errorMessage": "throttled"},
        }
    )


def ours(services, key: str, size: int = 1000) -> dict:
    """Return the S3 notification of an upload to this stage, as its trigger sends it."""
    bucket, function = services.storage.uploads_bucket, services.settings.function_name
    return s3_event(bucket, key, size, function_name=function)


@pytest.fixture
def queue(services):
    """The stage's failed-events queue, as `flask infra up` made it; send puts a message."""
    sqs = client("sqs", services.settings)
    url = sqs.get_queue_url(QueueName=services.settings.failed_events_queue)["QueueUrl"]

    class Queue:
        def send(self, body: str) -> None:
            sqs.send_message(QueueUrl=url, MessageBody=body)

        def bodies(self) -> list[str]:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
            return sorted(m["Body"] for m in got.get("Messages", []))

    return Queue()


@pytest.fixture
def started(monkeypatch) -> list[Upload]:
    """The conversions the command starts (Lambda's Invoke), recorded instead of sent."""
    calls: list[Upload] = []
    monkeypatch.setattr(Conversions, "start", lambda self, upload: calls.append(upload))
    return calls


def test_replay_starts_the_stages_uploads_and_leaves_everything_else(app, services, queue, started):
    bucket, region = services.storage.uploads_bucket, services.settings.aws_region
    uploads = [
        kept(ours(services, KEY, 2000)),
        kept(conversion_event(Upload(bucket, KEY, 2000, started_by="reconciler"), region)),
    ]
    foreign = [
        kept({"raw_command": "import os; os.system('id')"}),
        kept({"command": "app.cli.operator_app"}),
        kept(s3_event(services.storage.results_bucket, "results/job-1/thumb.jpg")),
        kept(s3_event(bucket, "elsewhere/job-1/owner-1/x.jpg")),
        kept(s3_event(bucket, KEY, name="ObjectRemoved:Delete")),
        kept(s3_event(bucket, KEY, function_name="thumbs-test:app.cli.operator_app")),
        kept({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}),
        kept(None),
        "not json at all",
        json.dumps(["a", "list"]),
    ]
    for body in uploads + foreign:
        queue.send(body)
    result = app.test_cli_runner().invoke(args=["jobs", "failed-events", "--replay"])
    assert result.exit_code == 0, result.output
    assert [(u.bucket, u.key, u.size, u.started_by) for u in started] == [
        (bucket, KEY, 2000, "replay")
    ] * 2
    assert result.output.count("  replayed") == 2
    assert result.output.count(": left in the queue") == len(foreign)
    assert "12 failed events, 2 replayed" in result.output
    assert queue.bodies() == sorted(foreign)  # kept as found, visible again at once
    again = app.test_cli_runner().invoke(args=["jobs", "failed-events", "--replay"])
    assert "10 failed events, 0 replayed" in again.output and len(started) == 2


def test_listing_replays_nothing_and_says_which_would_be_left(app, services, queue, started):
    queue.send(kept(ours(services, KEY)))
    queue.send(kept({"raw_command": "import os"}))
    result = app.test_cli_runner().invoke(args=["jobs", "failed-events"])
    assert started == [] and "2 failed events" in result.output
    assert f"{KEY}: RetriesExhausted after 3 attempts (ClientError: throttled)" in result.output
    assert "not an upload to stage test (not an S3 notification): left in the queue" in (
        result.output
    )
    assert len(queue.bodies()) == 2


def test_what_a_kept_event_says_is_printed_escaped(app, services, queue, started):
    """A key is a visitor's file name; a terminal obeys the control characters it prints."""
    key = "uploads/job-1/owner-1/\x1b[2J\x1b]0;owned\x07.jpg"
    queue.send(kept(ours(services, key), error="\x1b[31mred"))
    output = app.test_cli_runner().invoke(args=["jobs", "failed-events"]).output
    assert "\x1b" not in output and "\x07" not in output
    assert "\\x1b[2J\\x1b]0;owned\\x07.jpg: \\x1b[31mred after 3 attempts" in output
