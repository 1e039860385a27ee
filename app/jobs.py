"""The job record and its state machine over DynamoDB: one conditional write per transition."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

AWAITING_UPLOAD = "awaiting_upload"
UPLOADED = "uploaded"
PROCESSING = "processing"
DONE = "done"
FAILED = "failed"
# Shown, never stored: derived from a stored state and the clock.
STALLED = "stalled"
EXPIRED = "expired"

GAVE_UP = "gave_up"
VISITOR_INDEX = "by_visitor"
# A history page stops looking after this many queries, however sparse the uploads.
_MAX_PAGE_QUERIES = 5

# The steps a page draws, in order.
STEPS = ("Uploaded", "Converting", "Done")


@dataclass(frozen=True)
class Look:
    """How a shown status looks: the step reached, whether it ended, its tone, what it says."""

    step: int  # 0: none yet; otherwise a 1-based index into STEPS
    finished: bool
    tone: str  # "progress", "done", "warning" (may still end well) or "problem"
    message: str | None  # None: the job's own (a failure's reason)

    @property
    def trouble(self) -> bool:
        """Whether a person should be offered a fresh start."""
        return self.tone in ("warning", "problem")


LOOKS = {
    AWAITING_UPLOAD: Look(0, False, "progress", "Waiting for your file to arrive."),
    UPLOADED: Look(1, False, "progress", "Your file has arrived. Converting starts in a moment."),
    PROCESSING: Look(2, False, "progress", "Converting your image…"),
    STALLED: Look(
        2,
        False,
        "warning",
        "Converting this image was interrupted. It is tried again automatically; if "
        "nothing changes within a few minutes, upload it again.",
    ),
    DONE: Look(3, True, "done", "Done. Your images are ready."),
    FAILED: Look(3, True, "problem", None),
    EXPIRED: Look(
        0,
        True,
        "problem",
        "This upload form expired before a file arrived. Upload the image again.",
    ),
}

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class Job:
    """One upload and what became of it, as stored."""

    job_id: str
    visitor_id: str
    status: str
    created_at: float
    upload_expires_at: float
    attempts: int = 0
    deadline: float | None = None
    filename: str | None = None
    source_key: str | None = None
    renditions: list = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    last_error: str | None = None
    uploaded_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @classmethod
    def from_item(cls, item: dict) -> Job:
        """Build a job from a DynamoDB item in wire format."""
        plain = {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in plain.items() if key in known})

    def shown_status(self, now: float | None = None, max_attempts: int | None = None) -> str:
        """Return the status a person sees: the stored one, or stalled or expired.

        A stalled job whose attempts are spent will not be taken up again: it is failed,
        even before a worker records it (a killed last attempt records nothing).
        """
        now = time.time() if now is None else now
        if self.status == PROCESSING and self.deadline is not None and now > self.deadline:
            spent = max_attempts is not None and self.attempts >= max_attempts
            return FAILED if spent else STALLED
        if self.status == AWAITING_UPLOAD and now > self.upload_expires_at:
            return EXPIRED
        return self.status

    def failure(self, max_attempts: int | None = None) -> tuple[str, str] | None:
        """Return the code and message of a failed job (stored, or attempts spent)."""
        if self.status == FAILED:
            return self.error_code, self.error_message
        if self.shown_status(max_attempts=max_attempts) == FAILED:
            return GAVE_UP, gave_up_message(self.attempts)
        return None


def gave_up_message(attempts: int) -> str:
    """Return what a person is told when every attempt to convert an image failed."""
    return (
        f"Converting this image failed {attempts} times. Try again, or try another "
        "file; if it keeps failing, the image may be too complex for us."
    )


def _each_value(value, convert):
    """Return `value` with `convert` applied to every value inside its lists and dicts."""
    if isinstance(value, list):
        return [_each_value(item, convert) for item in value]
    if isinstance(value, dict):
        return {key: _each_value(item, convert) for key, item in value.items()}
    return convert(value)


def _plain(value):
    """Turn DynamoDB's Decimals back into ints and floats, recursively."""

    def number(item):
        if not isinstance(item, Decimal):
            return item
        return int(item) if item == item.to_integral_value() else float(item)

    return _each_value(value, number)


def _wire(values: dict) -> dict:
    """Serialize plain values (floats included) to DynamoDB's wire format."""

    def decimal(item):
        return Decimal(repr(item)) if isinstance(item, float) else item

    return {
        key: _serializer.serialize(_each_value(value, decimal)) for key, value in values.items()
    }


class JobStore:
    """Jobs in one DynamoDB table, keyed by `job_id`, with an index by visitor."""

    def __init__(self, client, table: str, ttl_days: int = 7):
        self.client = client
        self._table = table
        self._ttl_seconds = ttl_days * 24 * 3600

    def create(self, visitor_id: str, upload_expires_in: int, now: float | None = None) -> Job:
        """Store a new job awaiting its upload and return it."""
        now = time.time() if now is None else now
        job = Job(
            job_id=secrets.token_hex(16),
            visitor_id=visitor_id,
            status=AWAITING_UPLOAD,
            created_at=now,
            upload_expires_at=now + upload_expires_in,
        )
        item = {
            "job_id": job.job_id,
            "visitor_id": visitor_id,
            "status": AWAITING_UPLOAD,
            "created_at": now,
            "upload_expires_at": job.upload_expires_at,
            "attempts": 0,
            "expires_at": int(now) + self._ttl_seconds,
        }
        self.client.put_item(
            TableName=self._table,
            Item=_wire(item),
            ConditionExpression="attribute_not_exists(job_id)",
        )
        return job

    def get(self, job_id: str) -> Job | None:
        """Return the job, read consistently (the last write may come from another instance)."""
        response = self.client.get_item(
            TableName=self._table,
            Key=_wire({"job_id": job_id}),
            ConsistentRead=True,
        )
        return Job.from_item(response["Item"]) if "Item" in response else None

    def mark_uploaded(self, job_id: str, now: float | None = None) -> bool:
        """Move a job from awaiting_upload to uploaded; False if it had moved on."""
        now = time.time() if now is None else now
        return (
            self._transition(
                job_id,
                "SET #status = :uploaded, uploaded_at = :now",
                "#status = :awaiting",
                {":uploaded": UPLOADED, ":now": now, ":awaiting": AWAITING_UPLOAD},
            )
            is not None
        )

    def claim(
        self,
        job_id: str,
        source_key: str,
        filename: str,
        deadline: float,
        max_attempts: int,
        now: float | None = None,
    ) -> Job | None:
        """Take the job for conversion until `deadline`; None if it is taken or finished."""
        now = time.time() if now is None else now
        return self._transition(
            job_id,
            "SET #status = :processing, deadline = :deadline, source_key = :key, "
            "filename = :filename, started_at = :now, attempts = attempts + :one "
            "REMOVE last_error",
            "attempts < :max AND (#status IN (:awaiting, :uploaded) "
            "OR (#status = :processing AND deadline < :now))",
            {
                ":processing": PROCESSING,
                ":deadline": deadline,
                ":key": source_key,
                ":filename": filename,
                ":now": now,
                ":one": 1,
                ":max": max_attempts,
                ":awaiting": AWAITING_UPLOAD,
                ":uploaded": UPLOADED,
            },
        )

    def release(self, job_id: str, attempt: int, error: str, now: float | None = None) -> bool:
        """Give back a claim after an infrastructure error, so a retry may take it at once."""
        now = time.time() if now is None else now
        return (
            self._transition(
                job_id,
                "SET deadline = :now, last_error = :error",
                "#status = :processing AND attempts = :attempt",
                {":now": now, ":error": error, ":processing": PROCESSING, ":attempt": attempt},
            )
            is not None
        )

    def finish(self, job_id: str, renditions: list[dict], now: float | None = None) -> bool:
        """Mark a processing job done with its renditions; False if it was not processing."""
        now = time.time() if now is None else now
        return (
            self._transition(
                job_id,
                "SET #status = :done, renditions = :renditions, finished_at = :now "
                "REMOVE deadline, last_error",
                "#status = :processing",
                {":done": DONE, ":renditions": renditions, ":now": now, ":processing": PROCESSING},
            )
            is not None
        )

    def fail(
        self,
        job_id: str,
        code: str,
        message: str,
        now: float | None = None,
        stalled_only: bool = False,
    ) -> bool:
        """Mark a processing (or, with `stalled_only`, a stalled) job failed with a reason."""
        now = time.time() if now is None else now
        return (
            self._transition(
                job_id,
                "SET #status = :failed, error_code = :code, error_message = :message, "
                "finished_at = :now REMOVE deadline",
                "#status = :processing" + (" AND deadline < :now" if stalled_only else ""),
                {
                    ":failed": FAILED,
                    ":code": code,
                    ":message": message,
                    ":now": now,
                    ":processing": PROCESSING,
                },
            )
            is not None
        )

    def delete(self, job_id: str) -> None:
        """Remove the job record."""
        self.client.delete_item(TableName=self._table, Key=_wire({"job_id": job_id}))

    def for_visitor(self, visitor_id: str, limit: int = 20, after: dict | None = None):
        """Return the visitor's uploads, newest first, and the key the next page starts at.

        Jobs whose upload never arrived (every visit to the upload page makes one) are
        left out; DynamoDB filters after it limits, so a page may take a few queries.
        """
        jobs: list[Job] = []
        start = after
        for _ in range(_MAX_PAGE_QUERIES):
            query = {
                "TableName": self._table,
                "IndexName": VISITOR_INDEX,
                "Limit": limit - len(jobs),
                "ScanIndexForward": False,
                "KeyConditionExpression": "visitor_id = :visitor",
                "FilterExpression": "#status <> :awaiting",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": _wire(
                    {":visitor": visitor_id, ":awaiting": AWAITING_UPLOAD}
                ),
            }
            if start:
                query["ExclusiveStartKey"] = _wire(start)
            response = self.client.query(**query)
            jobs += [Job.from_item(item) for item in response.get("Items", [])]
            last = response.get("LastEvaluatedKey")
            start = (
                {k: _plain(_deserializer.deserialize(v)) for k, v in last.items()} if last else None
            )
            if start is None or len(jobs) >= limit:
                break
        return jobs, start

    def _transition(self, job_id: str, update: str, condition: str, values: dict) -> Job | None:
        """Apply one conditional update; the new job, or None when the condition fails."""
        try:
            response = self.client.update_item(
                TableName=self._table,
                Key=_wire({"job_id": job_id}),
                UpdateExpression=update,
                ConditionExpression=f"attribute_exists(job_id) AND ({condition})",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=_wire(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return Job.from_item(response["Attributes"])
