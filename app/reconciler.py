"""The reconciler: find the uploads no conversion took up, and start them.

S3's event for an upload can be lost for good (Lambda drops an async event after its retries,
a trigger is missing during a deploy, S3 sends one notification for two writes), and so can
the browser's redirect. A job then waits, unless its page is watched (app/starts.py). Every
few minutes (a Zappa scheduled event in AWS, a thread of the embedded AWS locally) this
reads one page of the uploads S3 keeps, reads their jobs in one batch, and invokes the worker
for each one stranded, through the same claim as S3's event.

Its work is bounded by the work left to do, never by the data kept:
- an upload is deleted once its job ends (by the worker, or here when the worker could not),
  and so is every file sent beyond the first with one form: the listing holds unfinished
  work only, and a run with 10 or 10,000 finished jobs kept makes the same calls;
- one run reads one page, `PAGE` uploads, from where the last run stopped (its position is
  one item of the jobs table): many stranded uploads are carried on by the next runs;
- a start is recorded on its job and not repeated before a backoff, at most 5 times.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from . import logs, starts
from .config import Settings
from .jobs import DELETED, DONE, FAILED, PROCESSING, UPLOADED, Job
from .services import Services, services_for
from .storage import StoredUpload

logger = logging.getLogger(__name__)

PAGE = 1000  # ListObjectsV2's largest page, and ten of BatchGetItem's
# Why a job was stranded, as its log line says.
NEVER_STARTED = "never_started"  # in S3, but no record: its event and its redirect were lost
DELAYED = "delayed"  # recorded as uploaded, never claimed: its event was lost
CLAIM_EXPIRED = "claim_expired"  # claimed, its worker died, and the retries were lost


@dataclass(frozen=True)
class Stranded:
    """An upload no conversion is under way for, and why."""

    upload: StoredUpload
    reason: str
    waited: float  # seconds since it arrived, or since its claim expired


def handle_schedule(event: dict, context) -> None:
    """The scheduled event's entry point: start the stranded uploads of one page."""
    logs.setup()
    logs.invocation(context)
    recover(services_for(Settings.from_env()))


def recover(services: Services, now: float | None = None) -> list[Stranded]:
    """Start the conversion of each stranded upload of the next page; return those started,
    each logged once. Ended jobs' uploads met on the way are deleted."""
    now = time.time() if now is None else now
    position = services.jobs.reconciler_position()
    page, following = services.storage.uploads_page(position, PAGE)
    if following != position:
        services.jobs.save_reconciler_position(following)
    grace = services.settings.delayed_after_seconds
    waiting = [upload for upload in page if now - upload.last_modified > grace]
    jobs = services.jobs.get_many([u.key.job_id for u in waiting]) if waiting else {}
    started = []
    for upload in waiting:
        job = jobs.get(upload.key.job_id)
        if _finished_with(job, upload, services.settings):
            services.storage.delete_upload(upload.key.key)
            continue
        why = _why_stranded(job, upload, now, services.settings)
        if why is None:
            continue
        if job is not None and starts.give_up(services, job, now):
            logs.event(logger, "job_not_started", job_id=job.job_id, visitor=job.owner)
        elif starts.restart(services, upload.key, job, "reconciler", now):
            started.append(Stranded(upload, *why))
            _log(services, started[-1])
    return started


def _log(services: Services, item: Stranded) -> None:
    logs.event(
        logger,
        "job_recovered",
        job_id=item.upload.key.job_id,
        visitor=item.upload.key.owner,
        reason=item.reason,
        waited_ms=round(item.waited * 1000),
        recovered=1,
        **logs.metrics({"stage": services.settings.stage}, {"recovered": "Count"}),
    )


def _finished_with(job: Job | None, upload: StoredUpload, settings: Settings) -> bool:
    """Whether nothing will ever need this upload again: its job ended for good or was
    deleted, or it is a second file sent with one form (the job converts its first)."""
    if job is None:
        return False
    if job.status == DELETED or job.source_key != upload.key.key:
        return True
    if job.status == DONE:
        return True
    return job.status == FAILED and not job.retryable(settings.max_attempts)


def _why_stranded(
    job: Job | None, upload: StoredUpload, now: float, settings: Settings
) -> tuple[str, float] | None:
    if job is None:
        return NEVER_STARTED, now - upload.last_modified
    if job.status == UPLOADED:
        waited = now - (job.uploaded_at or job.created_at)
        return (DELAYED, waited) if waited > settings.delayed_after_seconds else None
    if job.status == PROCESSING and job.deadline is not None and job.deadline < now:
        # Its worker died and no retry came. With its attempts spent, the claim refuses,
        # and the worker records the failure: the job still ends.
        return CLAIM_EXPIRED, now - job.deadline
    return None
