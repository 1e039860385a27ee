"""The embedded AWS for `flask run` and the tests: moto behind an S3 gate, and an event pump.

Everything here is for a developer's machine; it refuses to run inside Lambda.
"""

from __future__ import annotations

import os

from .server import EmbeddedAWS, LocalAWSError

# Fake, fixed credentials: local mode must never reach a real account.
CREDENTIALS = {"testing": "testing"}

# What the worker reads from its environment, as Lambda's variables give it in AWS.
WORKER_SETTINGS = (
    "STAGE", "AWS_REGION", "AWS_ENDPOINT_URL", "UPLOADS_BUCKET", "RESULTS_BUCKET", "JOBS_TABLE",
    "MAX_UPLOAD_MB", "PROCESSING_TIMEOUT_SECONDS", "MAX_ATTEMPTS", "RENDITIONS", "OUTPUT_FORMAT",
    "JPEG_QUALITY", "BACKGROUND", "MAX_PIXELS", "AWS_MAX_ATTEMPTS", "JOB_TTL_DAYS",
)

__all__ = ["start", "LocalAWSError"]


def start(settings: dict) -> bool:
    """Start or reuse the embedded AWS for `settings`; True when this process owns it.

    Sets `AWS_ENDPOINT_URL` in `settings`, creates the buckets, table and queue, and, in
    the process that started the server, pumps S3 events to the worker.
    """
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        raise LocalAWSError(
            "LOCAL_AWS=1 inside AWS Lambda: the embedded AWS is for a developer's machine. "
            "Remove LOCAL_AWS from the function's environment."
        )
    _use_fake_credentials(settings["AWS_REGION"])
    aws = EmbeddedAWS(settings["LOCAL_AWS_PORT"], CREDENTIALS, faults=settings["LOCAL_FAULTS"])
    owner = aws.start_or_reuse()
    settings["AWS_ENDPOINT_URL"] = aws.endpoint
    settings["LOCAL_AWS_PORT"] = aws.port

    from .. import infra
    from ..aws import client

    s3, sqs = client("s3", settings), client("sqs", settings)
    infra.up(settings, s3, client("dynamodb", settings), log=lambda message: None)
    queue_url = infra.connect_queue(settings, s3, sqs)
    if owner:
        from ..worker import handle_s3_event

        for name in WORKER_SETTINGS:
            os.environ[name] = str(settings[name])
        from .pump import Pump, in_a_fresh_process

        timeout = settings["PROCESSING_TIMEOUT_SECONDS"]
        handler = in_a_fresh_process(timeout) if settings["LOCAL_WORKER"] == "process" \
            else handle_s3_event
        Pump(sqs, queue_url, handler, timeout_seconds=timeout,
             copies=settings["LOCAL_EVENT_COPIES"]).start()
    return owner


def _use_fake_credentials(region: str) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    os.environ["AWS_DEFAULT_REGION"] = region
