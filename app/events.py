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


@dataclass(frozen=True)
class Upload:
    """One object an S3 event announces."""

    bucket: str
    key: str
    size: int
    event_time: float | None = None
    started_by: str | None = None  # None: S3 itself; else "reconciler", "retry" or "replay"


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
                # Zappa's handler picks the function by the bucket's ARN.
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

    def replay(self, event: dict) -> None:
        """Invoke the worker with an event as it was first sent (a failed event, kept)."""
        self.client.invoke(
            FunctionName=self.function_name,
            InvocationType="Event",
            Payload=json.dumps(event).encode(),
        )


class FailedEvents:
    """The on-failure queue, where Lambda keeps an event its retries could not process."""

    def __init__(self, sqs, queue_name: str):
        self._sqs = sqs
        self._url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]

    def read(self):
        """Yield each kept event, as `(message, Lambda's destination record)`, once."""
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
                yield message, json.loads(message["Body"])

    def keep(self, message: dict) -> None:
        """Leave a message in the queue, visible again at once."""
        self._sqs.change_message_visibility(
            QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )

    def forget(self, message: dict) -> None:
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])


def describe_failure(record: dict) -> str:
    """Return one line about a kept event: when, which uploads, and why it failed."""
    payload = record.get("requestPayload") or {}
    keys = ", ".join(upload.key for upload in uploads_in(payload)) or "no upload"
    context = record.get("requestContext", {})
    error = record.get("responsePayload") or {}
    return (
        f"{record.get('timestamp', '?')} {keys}: {context.get('condition', 'failed')} after "
        f"{context.get('approximateInvokeCount', '?')} attempts "
        f"({error.get('errorType', 'error')}: {error.get('errorMessage', '')})"
    )


def _timestamp(record: dict) -> float | None:
    try:
        return datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return None
