"""The S3-event entry point Zappa calls: record by record, claim, convert, store, finish."""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from urllib.parse import unquote_plus

from . import config, imaging
from .aws import Services, build_services
from .jobs import PROCESSING, STALLED
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


def handle_s3_event(event: dict, context) -> None:
    """Convert every upload an S3 event announces; raise so Lambda retries a failure."""
    settings = config.from_env()
    services = _services(json.dumps(settings, sort_keys=True, default=str))
    failures = []
    for upload in uploads_in(event):
        if upload.bucket != services.storage.uploads_bucket:
            logger.warning("ignoring an event from bucket %s", upload.bucket)
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
        uploads.append(Upload(s3["bucket"]["name"], unquote_plus(s3["object"]["key"]),
                              int(s3["object"].get("size", 0))))
    return uploads


def convert_upload(services: Services, upload: Upload, deadline: float) -> None:
    """Claim the upload's job, convert it and record the outcome."""
    parsed = parse_upload_key(upload.key)
    if parsed is None:
        logger.warning("ignoring key outside uploads/<job>/: %r", upload.key)
        return
    job_id, filename = parsed
    settings, jobs = services.settings, services.jobs
    job = jobs.claim(job_id, upload.key, filename, deadline, settings["MAX_ATTEMPTS"])
    if job is None:
        _not_claimed(services, job_id)
        return
    started = time.time()
    try:
        renditions = _convert(services, job_id, upload.key)
    except imaging.ImageRejected as rejection:
        jobs.fail(job_id, rejection.code, rejection.message)
        logger.info("job %s failed: %s", job_id, rejection.code)
        return
    except Exception as error:
        jobs.release(job_id, job.attempts, _describe(error))
        raise
    if not jobs.finish(job_id, renditions):
        logger.warning("job %s was no longer processing when it finished", job_id)
    logger.info("job %s done in %.3f s", job_id, time.time() - started)


def _convert(services: Services, job_id: str, key: str) -> list[dict]:
    settings, storage = services.settings, services.storage
    data = storage.read_source(key)
    if len(data) > settings["MAX_UPLOAD_MB"] * 1024 * 1024:
        raise imaging.ImageRejected(
            "file_too_large", f"This file is larger than {settings['MAX_UPLOAD_MB']} MB.")
    options = imaging.Options(
        output_format=settings["OUTPUT_FORMAT"], quality=settings["JPEG_QUALITY"],
        background=config.background(settings), max_pixels=settings["MAX_PIXELS"],
    )
    stored = []
    for rendition in imaging.make_renditions(data, config.renditions(settings), options):
        stored.append({
            "name": rendition.name, "width": rendition.width, "height": rendition.height,
            "content_type": rendition.content_type, "size": len(rendition.data),
            "key": storage.write_rendition(job_id, rendition),
        })
    return stored


def _not_claimed(services: Services, job_id: str) -> None:
    """Explain a claim that failed: a duplicate, a finished job, or spent attempts."""
    job = services.jobs.get(job_id)
    if job is None:
        logger.warning("no job %s for this upload (deleted or expired)", job_id)
    elif job.shown_status() == STALLED and job.attempts >= services.settings["MAX_ATTEMPTS"]:
        services.jobs.fail(
            job_id, "gave_up",
            f"Converting this image failed {job.attempts} times. Try again, or try another "
            "file; if it keeps failing, the image may be too complex for us.",
            stalled_only=True,
        )
    elif job.status == PROCESSING:
        logger.info("job %s is being converted by another delivery", job_id)
    else:
        logger.info("job %s is already %s; duplicate event ignored", job_id, job.status)


def _deadline(context, settings: dict) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    seconds = remaining() / 1000 if remaining else settings["PROCESSING_TIMEOUT_SECONDS"]
    return time.time() + seconds + _DEADLINE_MARGIN


def _describe(error: Exception) -> str:
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{type(error).__name__}: {code}" if code else type(error).__name__


@functools.lru_cache(maxsize=4)
def _services(settings_json: str) -> Services:
    # One set of clients per process and configuration; clients are not data.
    return build_services(json.loads(settings_json))
