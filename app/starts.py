"""Conversions the site starts itself, when S3's event for an upload was lost.

S3 starts a conversion with its event. When that event is lost, two things start it instead,
each through the worker's one claim, so a late original event is a duplicate:
- a visitor watching the job: the status route, which reads the job anyway, starts an
  upload left unclaimed for `WATCHED_START_AFTER_SECONDS`: a lost event costs seconds;
- the reconciler, for the uploads nobody watches.
Either start is recorded on the job first by one conditional write (`JobStore.note_restart`):
one start per job however many pages and runs ask at once, none again before a backoff that
doubles from 2 minutes, and at most `MAX_RESTARTS`; then the job fails as `not_started`
(Try again is offered) rather than be started to no end.
"""

from __future__ import annotations

import logging
import time

from . import logs
from .events import Upload
from .jobs import UPLOADED, Job
from .services import Services
from .storage import UploadKey

logger = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 120  # then 4, 8, 16 and 32 minutes
MAX_RESTARTS = 5
NOT_STARTED_MESSAGE = (
    "Converting this image never started, though it was asked for several times. Try again; "
    "if it keeps happening, upload the image again."
)


def backoff(restarts: int) -> float:
    """Return how long after its `restarts`+1-th start a job may be started again."""
    return FIRST_BACKOFF_SECONDS * 2**restarts


def due(job: Job | None, now: float) -> bool:
    """Whether the site may start this job's conversion now: not started too often, and
    not started again within its backoff."""
    if job is None:
        return True
    return job.restarts < MAX_RESTARTS and (job.restart_after or 0) <= now


def restart(
    services: Services, key: UploadKey, job: Job | None, by: str, now: float | None = None
) -> bool:
    """Start the conversion of the upload at `key`, unless it is not due or another start
    came first (the job as read is `job`); True if this call started it."""
    now = time.time() if now is None else now
    if not due(job, now):
        return False
    restarts = job.restarts if job else 0
    if not services.jobs.note_restart(job, key, now + backoff(restarts), now):
        return False
    services.conversions.start(Upload(services.storage.uploads_bucket, key.key, 0, started_by=by))
    return True


def give_up(services: Services, job: Job, now: float | None = None) -> bool:
    """End a job that was started `MAX_RESTARTS` times and never taken up: failed, with a
    reason, so that neither the reconciler nor a page asks again."""
    if job.status != UPLOADED or job.restarts < MAX_RESTARTS:
        return False
    if (job.restart_after or 0) > (time.time() if now is None else now):
        return False  # its last start may still be on its way
    return services.jobs.not_started(job.job_id, NOT_STARTED_MESSAGE)


def start_if_unclaimed(services: Services, job: Job, now: float | None = None) -> bool:
    """The status route's start: a recorded upload nobody took up for a few seconds."""
    now = time.time() if now is None else now
    waited = now - (job.uploaded_at or job.created_at)
    if job.status != UPLOADED or waited < services.settings.watched_start_after_seconds:
        return False
    key = UploadKey.parse(job.source_key or "")
    if key is None or not restart(services, key, job, "watcher", now):
        return False
    logs.event(
        logger,
        "job_recovered",
        job_id=job.job_id,
        visitor=job.owner,
        reason="watched",
        waited_ms=round(waited * 1000),
        recovered=1,
        **logs.metrics({"stage": services.settings.stage}, {"recovered": "Count"}),
    )
    return True
