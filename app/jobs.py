"""The job record, its states and how each looks, and its state machine over DynamoDB.

A record exists only once its upload has arrived: the worker's claim or the browser's
redirect creates it, whichever comes first, each by one conditional write. Before that, a job
is known only to its ticket (waiting, or its form expired). Every later transition is one
conditional write too, so duplicate or late events cannot corrupt a job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from .storage import UPLOADS_KEPT_DAYS, UploadKey

# Stored states.
UPLOADED = "uploaded"
PROCESSING = "processing"
DONE = "done"
FAILED = "failed"
DELETED = "deleted"  # a tombstone, so that no late event or redirect brings the job back
# Shown, never stored: derived from the ticket, a stored state and the clock.
AWAITING_UPLOAD = "awaiting_upload"
EXPIRED = "expired"
DELAYED = "delayed"
STALLED = "stalled"

# Failure codes that are not the file's fault: Try again may convert the same upload.
GAVE_UP = "gave_up"
NOT_STARTED = "not_started"  # its event was lost, and every start after it too
RETRYABLE = {GAVE_UP, NOT_STARTED}
# How many times a person may ask for a failed job to be tried again.
MAX_RETRIES = 3
# Try again is withdrawn this long before S3 may delete the upload, so that every attempt
# it starts (Lambda retries an async invocation for minutes) still finds it.
RETRY_MARGIN_SECONDS = 3600
OWNER_INDEX = "by_owner"
# The reconciler's position: "~" is in no job id (URL-safe base64), and the item has no owner,
# so the owner index never holds it.
RECONCILER_ITEM = "~reconciler"
# A history page stops looking after this many queries, however sparse the uploads.
_MAX_PAGE_QUERIES = 5
_BATCH = 100  # BatchGetItem's limit

# The steps a page draws, in order: each named in the present while it is under way or to
# come, and in the past once it is done.
STEPS = (("Uploading", "Uploaded"), ("Converting", "Converted"), ("Ready", "Ready"))
# What each state of a step says to a screen reader, after the step's name.
STEP_WORDS = {
    "done": "done",
    "current": "under way",
    "waiting": "held up here",
    "stopped": "stopped here",
    "todo": "not reached",
}


@dataclass(frozen=True)
class Look:
    """How a shown status looks: the step it is at, whether it ended, its tone, its words."""

    step: int  # a 1-based index into STEPS: the step under way, or where the job stopped
    finished: bool
    tone: str  # "progress", "done", "warning" (may still end well) or "problem"
    title: str
    message: str | None  # None: the job's own words (a failure's reason)

    @property
    def trouble(self) -> bool:
        """Whether a person should be offered a fresh start."""
        return self.tone in ("warning", "problem")

    def steps(self) -> list[dict]:
        """Return each step as a page draws it: its label, its state and that state's words.

        The steps before this look's step are done; this one is under way, held up (a
        warning) or stopped (a problem); the rest are not reached, so a failed job never
        reads as progress towards success.
        """
        here = {"progress": "current", "done": "done", "warning": "waiting"}.get(
            self.tone, "stopped"
        )
        states = [
            "done" if n < self.step else here if n == self.step else "todo"
            for n in range(1, len(STEPS) + 1)
        ]
        return [
            {"label": labels[state == "done"], "state": state, "words": STEP_WORDS[state]}
            for labels, state in zip(STEPS, states)
        ]

    def moved_on(self, since: Look) -> bool:
        """Whether a page that shows `since` has something new to show: the job ended, went
        past that step, or changed its tone (a warning, a problem)."""
        return self.finished or self.step > since.step or self.tone != since.tone


LOOKS = {
    AWAITING_UPLOAD: Look(1, False, "progress", "Uploading", "Waiting for your file to arrive."),
    UPLOADED: Look(2, False, "progress", "Uploaded", "Converting starts in a moment."),
    DELAYED: Look(
        2,
        False,
        "warning",
        "Delayed",
        "Your file has arrived, but converting has not started yet. It will be picked up "
        "automatically within a few minutes; you can leave this page open or come back later.",
    ),
    PROCESSING: Look(2, False, "progress", "Converting", "This takes a second or two."),
    STALLED: Look(
        2,
        False,
        "warning",
        "Interrupted",
        "Converting this image stopped before it ended, on our side. It is tried again "
        "automatically within a few minutes: you can leave this page open or come back later.",
    ),
    DONE: Look(3, True, "done", "Done", "Your images are below, to download or share."),
    FAILED: Look(2, True, "problem", "Failed", None),
    EXPIRED: Look(
        1,
        True,
        "problem",
        "Form expired",
        "This upload form expired before a file arrived. Upload the image again.",
    ),
}

_NAMES = {"#status": "status", "#owner": "owner", "#share": "share_id"}
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class Job:
    """One upload and what became of it, as stored (or, before it arrived, as its ticket says)."""

    job_id: str
    owner: str
    status: str
    created_at: float
    attempts: int = 0
    retries: int = 0
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
    form_expires_at: float | None = None  # only for a job whose upload has not arrived
    source_kept_until: float | None = None  # when S3 deletes the upload, as the worker read it
    share_id: str | None = None  # set while its owner shares its images by a link
    note: str | None = None  # what a done job's person is told of its images, if anything
    restarts: int = 0  # conversions started by the site, not by S3's event (app/starts.py)
    restart_after: float | None = None  # no such start again before this time
    upload_size: int | None = None  # the bytes that arrived, as a done job's worker read them
    original_size: int | None = None  # the file chosen, when the browser sent it shrunk

    @classmethod
    def awaiting(cls, job_id: str, owner: str, form_expires_at: float) -> Job:
        """Return a job whose upload has not arrived: nothing of it is stored."""
        return cls(job_id, owner, AWAITING_UPLOAD, time.time(), form_expires_at=form_expires_at)

    @classmethod
    def from_item(cls, item: dict) -> Job:
        """Build a job from a DynamoDB item in wire format."""
        plain = {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}
        known = cls.__dataclass_fields__
        return cls(**{key: value for key, value in plain.items() if key in known})

    def shown_status(
        self, now: float | None = None, max_attempts: int | None = None, delayed_after: float = 60
    ) -> str:
        """Return the status a person sees: the stored one, or one the clock makes of it.

        A stalled job whose attempts are spent will not be taken up again: it is failed,
        even before a worker records it (a killed last attempt records nothing).
        """
        now = time.time() if now is None else now
        if self.status == PROCESSING and self.deadline is not None and now > self.deadline:
            spent = max_attempts is not None and self.attempts >= max_attempts
            return FAILED if spent else STALLED
        if self.status == UPLOADED and now - (self.uploaded_at or self.created_at) > delayed_after:
            return DELAYED
        if self.status == AWAITING_UPLOAD and now > self.form_expires_at:
            return EXPIRED
        return self.status

    def failure(self, max_attempts: int | None = None) -> tuple[str, str] | None:
        """Return the code and message of a failed job (stored, or attempts spent)."""
        if self.status == FAILED:
            return self.error_code, self.error_message
        if self.shown_status(max_attempts=max_attempts) == FAILED:
            return GAVE_UP, gave_up_message(self.attempts)
        return None

    def retryable(self, max_attempts: int, now: float | None = None) -> bool:
        """Whether Try again may convert this job's upload once more: a failure on our side,
        retries left, and the upload still kept."""
        failure = self.failure(max_attempts)
        return (
            bool(failure)
            and failure[0] in RETRYABLE
            and self.retries < MAX_RETRIES
            and self.upload_kept(now)
        )

    def upload_kept(self, now: float | None = None) -> bool:
        """Whether the upload stays in S3 long enough for another conversion to find it.

        Judged from the record alone, with no call to S3: the date S3 gave with the upload
        when the worker read it, or, when no attempt got that far, a day after the job was
        recorded (the rule's days without S3's rounding up to midnight: never later than S3).
        """
        now = time.time() if now is None else now
        kept_until = self.source_kept_until or self.created_at + UPLOADS_KEPT_DAYS * 24 * 3600
        return now < kept_until - RETRY_MARGIN_SECONDS


def gave_up_message(attempts: int) -> str:
    """Return what a person is told when every attempt to convert an image failed."""
    return (
        f"Converting this image failed {attempts} times, for reasons on our side, not your "
        "image's. Try again in a few minutes."
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
    """Jobs in one DynamoDB table, keyed by `job_id`, with an index by owner."""

    def __init__(self, client, table: str, ttl_days: int = 7):
        self.client = client
        self._table = table
        self._ttl_seconds = ttl_days * 24 * 3600

    def get(self, job_id: str) -> Job | None:
        """Return the job, read consistently (the last write may come from another instance)."""
        response = self.client.get_item(
            TableName=self._table, Key=_wire({"job_id": job_id}), ConsistentRead=True
        )
        return Job.from_item(response["Item"]) if "Item" in response else None

    def get_many(self, job_ids: list[str]) -> dict[str, Job]:
        """Return the stored jobs among `job_ids`, by id, read consistently."""
        found: dict[str, Job] = {}
        unique = list(dict.fromkeys(job_ids))
        for start in range(0, len(unique), _BATCH):
            keys = [_wire({"job_id": job_id}) for job_id in unique[start : start + _BATCH]]
            request = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self._table, []):
                    job = Job.from_item(item)
                    found[job.job_id] = job
                request = response.get("UnprocessedKeys") or None
        return found

    def reconciler_position(self) -> str | None:
        """Return the key after which the reconciler's next run lists uploads (None: the
        start). It is one item of this table, whose key no job id can take."""
        response = self.client.get_item(
            TableName=self._table, Key=_wire({"job_id": RECONCILER_ITEM}), ConsistentRead=True
        )
        return response.get("Item", {}).get("after", {}).get("S")

    def save_reconciler_position(self, after: str | None) -> None:
        """Keep where the reconciler's next run starts (None: at the start)."""
        item = {"job_id": RECONCILER_ITEM, **({"after": after} if after else {})}
        self.client.put_item(TableName=self._table, Item=_wire(item))

    def record_upload(
        self, job_id: str, owner: str, source_key: str, filename: str, now: float | None = None
    ) -> bool:
        """Record that a job's upload has arrived; False if it was recorded already."""
        now = time.time() if now is None else now
        item = {
            "job_id": job_id,
            "owner": owner,
            "status": UPLOADED,
            "created_at": now,
            "uploaded_at": now,
            "source_key": source_key,
            "filename": filename,
            "attempts": 0,
            "retries": 0,
            "expires_at": int(now) + self._ttl_seconds,
        }
        written = _unless_condition_fails(
            self.client.put_item,
            TableName=self._table,
            Item=_wire(item),
            ConditionExpression="attribute_not_exists(job_id)",
        )
        return written is not None

    def claim(
        self,
        job_id: str,
        owner: str,
        source_key: str,
        filename: str,
        deadline: float,
        max_attempts: int,
        now: float | None = None,
    ) -> Job | None:
        """Take the job for conversion until `deadline`; None if it is taken or has ended.

        Creates the record when the worker's event comes before the browser's redirect.
        """
        now = time.time() if now is None else now
        return self._transition(
            job_id,
            "SET #status = :processing, deadline = :deadline, source_key = :key, "
            "filename = :filename, started_at = :now, "
            "attempts = if_not_exists(attempts, :zero) + :one, "
            "retries = if_not_exists(retries, :zero), #owner = if_not_exists(#owner, :owner), "
            "created_at = if_not_exists(created_at, :now), "
            "uploaded_at = if_not_exists(uploaded_at, :now), "
            "expires_at = if_not_exists(expires_at, :expires) REMOVE last_error",
            "attribute_not_exists(job_id) OR (attempts < :max AND (#status = :uploaded "
            "OR (#status = :processing AND deadline < :now)))",
            {
                ":processing": PROCESSING,
                ":deadline": deadline,
                ":key": source_key,
                ":filename": filename,
                ":now": now,
                ":zero": 0,
                ":one": 1,
                ":owner": owner,
                ":expires": int(now) + self._ttl_seconds,
                ":max": max_attempts,
                ":uploaded": UPLOADED,
            },
            must_exist=False,
        )

    def release(
        self,
        job_id: str,
        attempt: int,
        error: str,
        now: float | None = None,
        source_kept_until: float | None = None,
    ) -> bool:
        """Give back a claim after an infrastructure error, so a retry may take it at once."""
        now = time.time() if now is None else now
        kept, kept_values = _kept(source_kept_until)
        return (
            self._transition(
                job_id,
                "SET deadline = :now, last_error = :error" + kept,
                "#status = :processing AND attempts = :attempt",
                {
                    ":now": now,
                    ":error": error,
                    ":processing": PROCESSING,
                    ":attempt": attempt,
                    **kept_values,
                },
            )
            is not None
        )

    def finish(
        self,
        job_id: str,
        renditions: list[dict],
        note: str | None = None,
        now: float | None = None,
        sizes: dict[str, int | None] | None = None,
    ) -> bool:
        """Mark a processing job done with its renditions, what its person is told of them,
        and `sizes` (upload_size, original_size) where known; False if it was not processing."""
        now = time.time() if now is None else now
        values = {":done": DONE, ":renditions": renditions, ":now": now, ":processing": PROCESSING}
        told = ""
        if note:  # only a done job has one, and a done job never changes
            told, values[":note"] = ", note = :note", note
        for name, size in (sizes or {}).items():
            if size is not None and name in ("upload_size", "original_size"):
                told, values[f":{name}"] = f"{told}, {name} = :{name}", size
        return (
            self._transition(
                job_id,
                f"SET #status = :done, renditions = :renditions, finished_at = :now{told} "
                "REMOVE deadline, last_error",
                "#status = :processing",
                values,
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
        source_kept_until: float | None = None,
    ) -> bool:
        """Mark a processing (or, with `stalled_only`, a stalled) job failed with a reason."""
        now = time.time() if now is None else now
        kept, kept_values = _kept(source_kept_until)
        return (
            self._transition(
                job_id,
                "SET #status = :failed, error_code = :code, error_message = :message, "
                "finished_at = :now" + kept + " REMOVE deadline",
                "#status = :processing" + (" AND deadline < :now" if stalled_only else ""),
                {
                    ":failed": FAILED,
                    ":code": code,
                    ":message": message,
                    ":now": now,
                    ":processing": PROCESSING,
                    **kept_values,
                },
            )
            is not None
        )

    def retry(self, job: Job, max_attempts: int, now: float | None = None) -> Job | None:
        """Put a retryable failed job back to uploaded, attempts anew; None if it moved on.

        The condition is the job as the person saw it, so two clicks (or two instances)
        make one retry.
        """
        now = time.time() if now is None else now
        failed = (
            "#status = :failed AND error_code IN ("
            + ", ".join(f":code{n}" for n in range(len(RETRYABLE)))
            + ")"
        )
        spent = "#status = :processing AND deadline < :now AND attempts >= :max"
        return self._transition(
            job.job_id,
            "SET #status = :uploaded, uploaded_at = :now, attempts = :zero, "
            "retries = retries + :one REMOVE error_code, error_message, deadline, last_error, "
            "finished_at, restarts, restart_after",
            f"retries < :retries AND (({failed}) OR ({spent}))",
            {
                ":uploaded": UPLOADED,
                ":now": now,
                ":zero": 0,
                ":one": 1,
                ":retries": MAX_RETRIES,
                ":failed": FAILED,
                ":processing": PROCESSING,
                ":max": max_attempts,
                **{f":code{n}": code for n, code in enumerate(sorted(RETRYABLE))},
            },
        )

    def note_restart(
        self, job: Job | None, key: UploadKey, restart_after: float, now: float | None = None
    ) -> bool:
        """Record that the site itself starts the conversion of the upload at `key`, unless
        another start came first: the job as last read (None: never recorded) must be
        unchanged since, and due. Creates the record of an upload whose event and redirect
        were both lost."""
        now = time.time() if now is None else now
        seen = job.restarts if job else 0
        values = {":next": seen + 1, ":uploaded": UPLOADED, ":now": now}
        if job is None:
            due = "attribute_not_exists(job_id)"
        else:
            due = (
                ("restarts = :seen" if seen else "attribute_not_exists(restarts)")
                + " AND (#status = :uploaded OR (#status = :processing AND deadline < :now))"
                " AND (attribute_not_exists(restart_after) OR restart_after <= :now)"
            )
            values |= {":processing": PROCESSING, **({":seen": seen} if seen else {})}
        written = self._transition(
            key.job_id,
            "SET restarts = :next, restart_after = :after, #status = if_not_exists(#status, "
            ":uploaded), #owner = if_not_exists(#owner, :owner), source_key = if_not_exists("
            "source_key, :key), filename = if_not_exists(filename, :filename), created_at = "
            "if_not_exists(created_at, :now), uploaded_at = if_not_exists(uploaded_at, :now), "
            "attempts = if_not_exists(attempts, :zero), retries = if_not_exists(retries, :zero), "
            "expires_at = if_not_exists(expires_at, :expires)",
            due,
            {
                **values,
                ":after": restart_after,
                ":owner": key.owner,
                ":key": key.key,
                ":filename": key.filename,
                ":zero": 0,
                ":expires": int(now) + self._ttl_seconds,
            },
            must_exist=False,
        )
        return written is not None

    def not_started(self, job_id: str, message: str, now: float | None = None) -> bool:
        """Mark a job whose conversion never started, however often it was started, failed."""
        now = time.time() if now is None else now
        return (
            self._transition(
                job_id,
                "SET #status = :failed, error_code = :code, error_message = :message, "
                "finished_at = :now",
                "#status = :uploaded",
                {
                    ":failed": FAILED,
                    ":code": NOT_STARTED,
                    ":message": message,
                    ":now": now,
                    ":uploaded": UPLOADED,
                },
            )
            is not None
        )

    def delete(self, job_id: str, owner: str, now: float | None = None) -> None:
        """Leave a tombstone in the job's place: no late event or redirect may bring it back."""
        now = time.time() if now is None else now
        item = {
            "job_id": job_id,
            "owner": owner,
            "status": DELETED,
            "created_at": now,
            "expires_at": int(now) + self._ttl_seconds,
        }
        self.client.put_item(TableName=self._table, Item=_wire(item))

    def share(self, job_id: str, owner: str, share_id: str | None) -> Job | None:
        """Turn a job's share link on (a new `share_id`) or off (None), by one conditional write.

        Only the owner may, and only a done job is shared; None when the condition fails.
        A tombstone replaces the whole item, so deleting a job turns its link off too.
        """
        if share_id is None:
            return self._transition(
                job_id,
                "REMOVE #share",
                "#owner = :owner AND #status <> :deleted",
                {":owner": owner, ":deleted": DELETED},
            )
        return self._transition(
            job_id,
            "SET #share = :share",
            "#owner = :owner AND #status = :done",
            {":owner": owner, ":done": DONE, ":share": share_id},
        )

    def for_owner(self, owner: str, limit: int = 20, after: dict | None = None):
        """Return the owner's uploads, newest first, and where the next page starts.

        `after` is `{"created_at": ..., "job_id": ...}` from the previous page. Tombstones
        are left out; DynamoDB filters after it limits, so a page may take a few queries.
        """
        jobs: list[Job] = []
        start = {**after, "owner": owner} if after else None
        for _ in range(_MAX_PAGE_QUERIES):
            query = {
                "TableName": self._table,
                "IndexName": OWNER_INDEX,
                "Limit": limit - len(jobs),
                "ScanIndexForward": False,
                "KeyConditionExpression": "#owner = :owner",
                "FilterExpression": "#status <> :deleted",
                "ExpressionAttributeNames": {"#status": "status", "#owner": "owner"},
                "ExpressionAttributeValues": _wire({":owner": owner, ":deleted": DELETED}),
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
        after = {"created_at": start["created_at"], "job_id": start["job_id"]} if start else None
        return jobs, after

    def _transition(
        self, job_id: str, update: str, condition: str, values: dict, must_exist: bool = True
    ) -> Job | None:
        """Apply one conditional update; the new job, or None when the condition fails."""
        if must_exist:
            condition = f"attribute_exists(job_id) AND ({condition})"
        # STATUS, OWNER and SHARE are reserved words in DynamoDB's expressions.
        names = {
            name: attribute
            for name, attribute in _NAMES.items()
            if name in update or name in condition
        }
        response = _unless_condition_fails(
            self.client.update_item,
            TableName=self._table,
            Key=_wire({"job_id": job_id}),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=_wire(values),
            ReturnValues="ALL_NEW",
        )
        return None if response is None else Job.from_item(response["Attributes"])


def _kept(source_kept_until: float | None) -> tuple[str, dict]:
    """Return the SET clause and values that record until when S3 keeps the upload, if known."""
    if source_kept_until is None:
        return "", {}
    return ", source_kept_until = :kept", {":kept": source_kept_until}


def _unless_condition_fails(write, **request) -> dict | None:
    """Make a conditional write; None when its condition fails (another writer came first,
    or the job is not in a state that allows it). Any other error is raised."""
    try:
        return write(**request)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return None
        raise
