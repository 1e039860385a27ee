"""The S3-event entry point Zappa calls: record by record, claim, convert, store, finish."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote_plus

from . import imaging, logs
from .config import Settings
from .jobs import GAVE_UP, PROCESSING, Job, gave_up_message
from .services import Services, services_for
from .storage import parse_upload_key

logger = logging.getLogger(__name__)

# A claim outlives its invocation by this much, so no retry takes a job still converting.
_DEADLINE_MARGIN = 1.0


@dataclass(frozen=True)
class Upload:
    """One object an S3 event announces."""

    bucket: str
    key: str
    size: int
    event_time: float | None = None


def handle_s3_event(event: dict, context) -> None:
    """Convert every upload an S3 event announces; raise so Lambda retries a failure."""
    logs.setup()
    settings = Settings.from_env()
    services = services_for(settings)
    failures = []
    for upload in uploads_in(event):
        if upload.bucket != services.storage.uploads_bucket:
            logs.event(
                logger,
                "event_ignored",
                logging.WARNING,
                bucket=upload.bucket,
                reason="not the uploads bucket",
            )
            continue
        try:
            convert_upload(services, upload, _deadline(context, settings))
        except Exception as error:  # recorded on the job already; the rest still deserve a try
            failures.append(error)
    if failures:
        raise failures[0]


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
            )
        )
    return uploads


def convert_upload(services: Services, upload: Upload, deadline: float) -> None:
    """Claim the upload's job, convert it and record the outcome."""
    parsed = parse_upload_key(upload.key)
    if parsed is None:
        logs.event(logger, "event_ignored", logging.WARNING, reason="key outside uploads/<job>/")
        return
    job_id, filename = parsed
    jobs = services.jobs
    job = jobs.claim(job_id, upload.key, filename, deadline, services.settings.max_attempts)
    if job is None:
        _not_claimed(services, job_id)
        return
    fields = {
        "job_id": job_id,
        "visitor": logs.visitor_hash(job.visitor_id),
        "attempt": job.attempts,
    }
    started = time.time()
    try:
        renditions = _convert(services, job_id, upload.key)
        finished = jobs.finish(job_id, renditions)
    except imaging.ImageRejected as rejection:
        jobs.fail(job_id, rejection.code, rejection.message)
        logs.event(
            logger, "job_failed", code=rejection.code, **fields, **_timings(job, upload, started)
        )
        return
    except Exception as error:
        if job.attempts >= services.settings.max_attempts:
            # No retry may claim it again: say so now rather than leave it stalled.
            jobs.fail(job_id, GAVE_UP, gave_up_message(job.attempts))
            logs.event(
                logger,
                "job_failed",
                logging.ERROR,
                exc_info=True,
                code=GAVE_UP,
                cause=_describe(error),
                **fields,
            )
            return
        jobs.release(job_id, job.attempts, _describe(error))
        logs.event(
            logger, "job_released", logging.ERROR, exc_info=True, cause=_describe(error), **fields
        )
        raise
    if not finished:
        logs.event(logger, "job_gone", logging.WARNING, reason="deleted while converting", **fields)
        return
    logs.event(
        logger,
        "job_done",
        **fields,
        **_timings(job, upload, started),
        source_bytes=upload.size,
        renditions={
            r["name"]: {"bytes": r["size"], "width": r["width"], "height": r["height"]}
            for r in renditions
        },
    )


def _convert(services: Services, job_id: str, key: str) -> list[dict]:
    settings, storage = services.settings, services.storage
    data = storage.read_source(key)
    if len(data) > settings.max_upload_bytes:
        raise imaging.ImageRejected(
            "file_too_large", f"This file is larger than {settings.max_upload_mb} MB."
        )
    options = imaging.Options(
        output_format=settings.output_format,
        quality=settings.jpeg_quality,
        background=settings.background_rgb,
        max_pixels=settings.max_pixels,
    )
    stored = []
    for rendition in imaging.make_renditions(data, settings.rendition_specs, options):
        stored.append(
            {
                "name": rendition.name,
                "width": rendition.width,
                "height": rendition.height,
                "content_type": rendition.content_type,
                "size": len(rendition.data),
                "key": storage.write_rendition(job_id, rendition),
            }
        )
    return stored


def _not_claimed(services: Services, job_id: str) -> None:
    """Explain a claim that failed: a duplicate, a finished job, or spent attempts."""
    job = services.jobs.get(job_id)
    if job is None:
        logs.event(
            logger,
            "event_ignored",
            logging.WARNING,
            job_id=job_id,
            reason="no such job (deleted or expired)",
        )
    elif job.status == PROCESSING and job.failure(services.settings.max_attempts):
        # The last attempt died without a word (a timeout, or out of memory): record why.
        services.jobs.fail(job_id, *job.failure(services.settings.max_attempts), stalled_only=True)
        logs.event(
            logger,
            "job_failed",
            job_id=job_id,
            code=GAVE_UP,
            attempt=job.attempts,
            visitor=logs.visitor_hash(job.visitor_id),
        )
    else:
        reason = (
            "being converted by another delivery"
            if job.status == PROCESSING
            else f"already {job.status}"
        )
        logs.event(
            logger,
            "duplicate_ignored",
            job_id=job_id,
            reason=reason,
            visitor=logs.visitor_hash(job.visitor_id),
        )


def _timings(job: Job, upload: Upload, started: float) -> dict:
    """Return how long the job waited and took, in milliseconds, and the peak memory."""
    now = time.time()
    uploaded = upload.event_time or job.created_at
    return {
        "queued_ms": round((started - uploaded) * 1000),
        "conversion_ms": round((now - started) * 1000),
        "total_ms": round((now - uploaded) * 1000),
        "since_page_ms": round((now - job.created_at) * 1000),
        "peak_rss_mb": round(logs.peak_rss_mb()),
    }


def _timestamp(record: dict) -> float | None:
    try:
        return datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return None


def _deadline(context, settings: Settings) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    seconds = remaining() / 1000 if remaining else settings.processing_timeout_seconds
    return time.time() + seconds + _DEADLINE_MARGIN


def _describe(error: Exception) -> str:
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{type(error).__name__}: {code}" if code else type(error).__name__
