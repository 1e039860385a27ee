"""S3 events: what one announces, and how Thumbs makes one to start a conversion itself.

S3's trigger invokes the worker with an ObjectCreated event. The reconciler, Try again and the
replay of a failed event start a conversion the same way: they invoke the function
asynchronously with such an event, so every conversion takes the one path through the
worker's claim, with Lambda's retries and its on-failure destination.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote_plus, unquote_plus

from .config import Settings
from .storage import UploadKey

# Who may start a conversion besides S3 itself (an Upload's `started_by`).
STARTED_BY = (None, "reconciler", "watcher", "retry", "replay")


@dataclass(frozen=True)
class Upload:
    """One object an S3 event announces."""

    bucket: str
    key: str
    size: int
    event_time: float | None = None
    started_by: str | None = None  # None: S3 itself; else one of STARTED_BY


def uploads_in(event: dict) -> list[Upload]:
    """Return the created objects an S3 event names (none for S3's test event)."""
    if event.get("Event") == "s3:TestEvent":
        return []
    uploads = []
    for record in event.get("Records", []):
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        s3 = record["s3"]
        # S3 URL-encodes keys in events, with + for spaces.
        uploads.append(
            Upload(
                s3["bucket"]["name"],
                unquote_plus(s3["object"]["key"]),
                int(s3["object"].get("size", 0)),
                _timestamp(record),
                record.get("thumbsStartedBy"),
            )
        )
    return uploads


class ForeignEvent(ValueError):
    """An event that announces something else than uploads to this stage; the message says
    which check it failed, in words of its own (never the event's)."""


def stage_uploads(event, settings: Settings) -> list[Upload]:
    """Return the uploads an S3 notification announces, if it holds only ObjectCreated records
    of this stage's uploads bucket, under uploads/<job>/<owner>/; else raise ForeignEvent."""
    records = event.get("Records") if isinstance(event, dict) else None
    if set(event or ()) != {"Records"} or not isinstance(records, list) or not records:
        raise ForeignEvent("not an S3 notification")
    for record in records:
        _check_upload_record(record, settings)
    return uploads_in(event)


def _check_upload_record(record, settings: Settings) -> None:
    if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
        raise ForeignEvent("a record that is not S3's")
    name = record.get("eventName")
    if not isinstance(name, str) or not name.startswith("ObjectCreated:"):
        raise ForeignEvent("an S3 record of no ObjectCreated event")
    if record.get("awsRegion") != settings.aws_region:
        raise ForeignEvent("an S3 record from another region")
    s3 = record.get("s3") if isinstance(record.get("s3"), dict) else {}
    bucket = s3.get("bucket") if isinstance(s3.get("bucket"), dict) else {}
    wanted = settings.uploads_bucket
    if (bucket.get("name"), bucket.get("arn")) != (wanted, f"arn:aws:s3:::{wanted}"):
        raise ForeignEvent("an S3 record from another bucket")
    # Zappa names its notification after the function; Zappa's own handler would run the
    # function named after a ":" in it.
    if s3.get("configurationId") not in (None, settings.function_name):
        raise ForeignEvent("an S3 record of another notification")
    stored = s3.get("object") if isinstance(s3.get("object"), dict) else {}
    key, size = stored.get("key"), stored.get("size")
    if not isinstance(key, str) or UploadKey.parse(unquote_plus(key)) is None:
        raise ForeignEvent("an S3 record of a key outside uploads/<job>/<owner>/")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise ForeignEvent("an S3 record with no size")
    if record.get("thumbsStartedBy") not in STARTED_BY:
        raise ForeignEvent("an S3 record started by no one known")


def conversion_event(upload: Upload, region: str) -> dict:
    """Return the S3 event that starts `upload`'s conversion, as S3's trigger would send it."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": now,
                "eventName": "ObjectCreated:Post",
                # The bucket's name and ARN, as S3 sends them: the entry point checks both.
                "s3": {
                    "bucket": {"name": upload.bucket, "arn": f"arn:aws:s3:::{upload.bucket}"},
                    "object": {"key": quote_plus(upload.key), "size": upload.size},
                },
                "thumbsStartedBy": upload.started_by,
            }
        ]
    }


class Conversions:
    """Start conversions by invoking this stage's function asynchronously, as S3 does."""

    def __init__(self, client, function_name: str, region: str):
        self.client = client
        self.function_name = function_name
        self._region = region

    def start(self, upload: Upload) -> None:
        """Invoke the worker for `upload`; Lambda queues it and answers at once."""
        self.client.invoke(
            FunctionName=self.function_name,
            InvocationType="Event",
            Payload=json.dumps(conversion_event(upload, self._region)).encode(),
        )


class FailedEvents:
    """The on-failure queue, where Lambda keeps an event its retries could not process."""

    def __init__(self, sqs, queue_name: str):
        self._sqs = sqs
        self._url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]

    def read(self):
        """Yield each kept event, as `(message, Lambda's destination record)`, once. Anything
        may write to the queue that the function's role may: a body that is no JSON object
        is yielded as an empty record."""
        seen = set()
        while True:
            messages = self._sqs.receive_message(
                QueueUrl=self._url, MaxNumberOfMessages=10, VisibilityTimeout=60
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            for message in messages:
                if message["MessageId"] in seen:
                    self.keep(message)  # met again: leave it as it was found
            if not fresh:
                return
            for message in fresh:
                seen.add(message["MessageId"])
                yield message, _json_object(message["Body"])

    def keep(self, message: dict) -> None:
        """Leave a message in the queue, visible again at once."""
        self._sqs.change_message_visibility(
            QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )

    def forget(self, message: dict) -> None:
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])


def describe_failure(record: dict, uploads: list[Upload]) -> str:
    """Return one line about a kept event: when, which uploads, and why it failed. What the
    record says is printed escaped: a key is a visitor's file name, and a terminal obeys the
    control characters in what it prints."""
    keys = ", ".join(upload.key for upload in uploads) or "no upload"
    context, error = _object(record.get("requestContext")), _object(record.get("responsePayload"))
    line = (
        f"{record.get('timestamp', '?')} {keys}: {context.get('condition', 'failed')} after "
        f"{context.get('approximateInvokeCount', '?')} attempts "
        f"({error.get('errorType', 'error')}: {error.get('errorMessage', '')})"
    )
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in line)


def _json_object(text: str) -> dict:
    try:
        return _object(json.loads(text))
    except ValueError:
        return {}


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _timestamp(record: dict) -> float | None:
    try:
        return datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return None
