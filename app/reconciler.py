"""The reconciler: find the uploads no conversion took up, and start them.

S3's event for an upload can be lost for good (Lambda drops an async event after its retries,
a trigger is missing during a deploy, S3 sends one notification for two writes), and so can
the browser's redirect. A job then waits forever. Every few minutes (a Zappa scheduled event
in AWS, a thread of the embedded AWS locally) this lists the uploads S3 still keeps, a day's
worth by the lifecycle rule, reads their jobs in batches, and invokes the worker for each one
stranded, through the same claim as S3's event: a late original event is then a duplicate.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from . import logs
from .config import Settings
from .events import Upload
from .jobs import PROCESSING, UPLOADED, Job
from .services import Services, services_for
from .storage import StoredUpload

logger = logging.getLogger(__name__)

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
    """The scheduled event's entry point: start every stranded upload's conversion."""
    logs.setup()
    logs.invocation(context)
    recover(services_for(Settings.from_env()))


def recover(services: Services, now: float | None = None) -> list[Stranded]:
    """Start the conversion of every stranded upload; return them, each logged once."""
    found = stranded(services, now)
    for item in found:
        services.conversions.start(
            Upload(
                services.storage.uploads_bucket,
                item.upload.key.key,
                item.upload.size,
                started_by="reconciler",
            )
        )
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
    return found


def stranded(services: Services, now: float | None = None) -> list[Stranded]:
    """Return the uploads that wait with no conversion under way (no full-table scan)."""
    now = time.time() if now is None else now
    grace = services.settings.delayed_after_seconds
    uploads = [u for u in services.storage.uploads() if now - u.last_modified > grace]
    jobs = services.jobs.get_many([u.key.job_id for u in uploads])
    found = []
    for upload in uploads:
        why = _why_stranded(jobs.get(upload.key.job_id), upload, now, services.settings)
        if why:
            found.append(Stranded(upload, *why))
    return found


def _why_stranded(
    job: Job | None, upload: StoredUpload, now: float, settings: Settings
) -> tuple[str, float] | None:
    if job is None:
        return NEVER_STARTED, now - upload.last_modified
    if job.source_key != upload.key.key:
        return None  # another file of the job (a second upload with the same form)
    if job.status == UPLOADED:
        waited = now - (job.uploaded_at or job.created_at)
        return (DELAYED, waited) if waited > settings.delayed_after_seconds else None
    if job.status == PROCESSING and job.deadline is not None and job.deadline < now:
        # Its worker died and no retry came. With its attempts spent, the claim refuses,
        # and the worker records the failure: the job still ends.
        return CLAIM_EXPIRED, now - job.deadline
    return None
