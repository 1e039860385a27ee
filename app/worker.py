"""The S3-event entry point Zappa calls: record by record, claim, convert, store, finish."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from . import imaging, logs
from .config import Settings
from .events import Upload, uploads_in
from .jobs import DELETED, GAVE_UP, PROCESSING, Job, gave_up_message
from .services import Services, services_for
from .storage import Source, SourceGone, UploadKey

logger = logging.getLogger(__name__)

# A claim outlives its invocation by this much, so no retry takes a job still converting.
_DEADLINE_MARGIN = 1.0
ANIMATION_SHARE = 0.5  # of the invocation's time left, the most an animation may take
# The metrics a finished job's line carries (CloudWatch's Embedded Metric Format).
DONE_METRICS = {"conversion_ms": "Milliseconds", "total_ms": "Milliseconds", "conversions": "Count"}
FAILED_METRICS = {"failures": "Count"}


def handle_s3_event(event: dict, context) -> None:
    """Convert every upload an S3 event announces; raise so Lambda retries a failure."""
    logs.setup()
    logs.invocation(context)
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


def convert_upload(services: Services, upload: Upload, deadline: float) -> None:
    """Claim the upload's job, convert it and record the outcome."""
    parsed = UploadKey.parse(upload.key)
    if parsed is None:
        logs.event(logger, "event_ignored", logging.WARNING, reason="key outside uploads/<job>/")
        return
    jobs, job_id = services.jobs, parsed.job_id
    job = jobs.claim(
        job_id,
        parsed.owner,
        upload.key,
        parsed.filename,
        deadline,
        services.settings.max_attempts,
    )
    if job is None:
        _not_claimed(services, job_id, upload.key)
        return
    fields = {"job_id": job_id, "visitor": job.owner, "attempt": job.attempts}
    stage = services.settings.stage
    if upload.started_by:
        fields["started_by"] = upload.started_by
    started = time.time()
    source: Source | None = None
    try:
        source = services.storage.read_source(upload.key)
        renditions, warnings, note = _convert(services, job_id, source.data, deadline)
        sizes = {"upload_size": len(source.data), "original_size": source.original_size}
        finished = jobs.finish(job_id, renditions, note, sizes=sizes)
    except (imaging.ImageRejected, SourceGone) as rejection:
        jobs.fail(job_id, rejection.code, rejection.message)
        if isinstance(rejection, imaging.ImageRejected):
            services.storage.delete_upload(upload.key)  # no Try again can convert it
        logs.event(
            logger,
            "job_failed",
            **_failure(stage, rejection.code),
            **fields,
            **_timings(job, upload, started),
        )
        return
    except Exception as error:
        # What S3 said of the upload's life goes on the record: Try again is offered only
        # while the upload is kept.
        kept_until = source.kept_until if source else None
        if job.attempts >= services.settings.max_attempts:
            # No retry may claim it again: say so now rather than leave it stalled.
            jobs.fail(job_id, GAVE_UP, gave_up_message(job.attempts), source_kept_until=kept_until)
            logs.event(
                logger,
                "job_failed",
                logging.ERROR,
                exc_info=True,
                cause=_describe(error),
                **_failure(stage, GAVE_UP),
                **fields,
            )
            return
        jobs.release(job_id, job.attempts, _describe(error), source_kept_until=kept_until)
        logs.event(
            logger, "job_released", logging.ERROR, exc_info=True, cause=_describe(error), **fields
        )
        raise
    if not finished:
        # Deleted while converting: what was written must go too.
        services.storage.delete_results(job_id)
        logs.event(logger, "job_gone", logging.WARNING, reason="deleted while converting", **fields)
        return
    # Its job has ended: nothing needs the upload (a DELETE is free), and the reconciler's
    # listing holds only the work left to do.
    services.storage.delete_upload(upload.key)
    if warnings:
        fields["image_warnings"] = list(warnings)
    if note:
        fields["note"] = note
    logs.event(
        logger,
        "job_done",
        **fields,
        **_timings(job, upload, started),
        **logs.metrics({"stage": stage}, DONE_METRICS),
        conversions=1,
        source_bytes=upload.size,
        renditions={
            r["name"]: {"bytes": r["size"], "width": r["width"], "height": r["height"]}
            for r in renditions
        },
    )


def _convert(services: Services, job_id: str, data: bytes, deadline: float) -> tuple:
    """Make and store the renditions by the claim's `deadline`; return what to record of
    them, Pillow's warnings, and what the person is told of them."""
    settings, storage = services.settings, services.storage
    if len(data) > settings.max_upload_bytes:
        raise imaging.ImageRejected(
            "file_too_large", f"This file is larger than {settings.max_upload_mb} MB."
        )
    options = imaging.Options(
        output_format=settings.output_format,
        quality=settings.jpeg_quality,
        qualities=settings.rendition_qualities,
        background=settings.background_rgb,
        max_pixels=settings.max_pixels,
        max_animation_pixels=settings.max_animation_pixels,
    )
    # An animation may take half of what is left: its first frame, made and stored instead,
    # fits in the rest, where a timeout would leave the job to be tried again to no end.
    left = deadline - _DEADLINE_MARGIN - time.time()
    made = imaging.make_renditions(
        data, settings.rendition_specs, options, time.monotonic() + left * ANIMATION_SHARE
    )
    # The renditions go up at once: one PUT's wait, not one per rendition, for the worker and
    # for the page that long-polls on it (both are billed by the millisecond).
    with ThreadPoolExecutor(max(1, len(made))) as pool:
        keys = list(pool.map(lambda rendition: storage.write_rendition(job_id, rendition), made))
    stored = [
        {
            "name": rendition.name,
            "width": rendition.width,
            "height": rendition.height,
            "content_type": rendition.content_type,
            "size": len(rendition.data),
            "shown": rendition.shown,
            "key": key,
        }
        for rendition, key in zip(made, keys, strict=True)
    ]
    return stored, made.warnings, made.note


def _not_claimed(services: Services, job_id: str, key: str) -> None:
    """Explain a claim that failed: a duplicate, a finished or deleted job, spent attempts, a
    second file sent with one form."""
    job = services.jobs.get(job_id)
    max_attempts = services.settings.max_attempts
    if job is not None and job.status != DELETED and job.source_key != key:
        # One form takes any number of files (S3 cannot bound it); the job is its first.
        services.storage.delete_upload(key)
        logs.event(logger, "event_ignored", job_id=job_id, reason="another file of the job")
    elif job is None or job.status == DELETED:
        # An upload that arrived after its job was deleted: nothing of it may stay.
        services.storage.delete_job(job_id)
        logs.event(logger, "event_ignored", job_id=job_id, reason="the job was deleted")
    elif job.status == PROCESSING and job.failure(max_attempts):
        # The last attempt died without a word (a timeout, or out of memory): record why.
        services.jobs.fail(job_id, *job.failure(max_attempts), stalled_only=True)
        logs.event(
            logger,
            "job_failed",
            job_id=job_id,
            attempt=job.attempts,
            visitor=job.owner,
            **_failure(services.settings.stage, GAVE_UP),
        )
    else:
        reason = (
            "being converted by another delivery"
            if job.status == PROCESSING
            else f"already {job.status}"
        )
        logs.event(logger, "duplicate_ignored", job_id=job_id, reason=reason, visitor=job.owner)


def _failure(stage: str, code: str) -> dict:
    """Return a failed job's code, and the fields that count it as a metric, by code."""
    return {
        "code": code,
        "failures": 1,
        **logs.metrics({"stage": stage, "code": code}, FAILED_METRICS),
    }


def _timings(job: Job, upload: Upload, started: float) -> dict:
    """Return how long the job waited and took, in milliseconds, and the peak memory."""
    now = time.time()
    uploaded = upload.event_time or job.uploaded_at or job.created_at
    return {
        "queued_ms": round((started - uploaded) * 1000),
        "conversion_ms": round((now - started) * 1000),
        "total_ms": round((now - uploaded) * 1000),
        "peak_rss_mb": round(logs.peak_rss_mb()),
    }


def _deadline(context, settings: Settings) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    seconds = remaining() / 1000 if remaining else settings.processing_timeout_seconds
    return time.time() + seconds + _DEADLINE_MARGIN


def _describe(error: Exception) -> str:
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{type(error).__name__}: {code}" if code else type(error).__name__
