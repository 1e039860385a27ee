"""Thumbs on the embedded AWS: for `make run`, `flask run`, the tests, stress, bench, rehearse.

The embedded AWS (the `embedded-aws` distribution in `embedded-aws/`) knows nothing of
Thumbs. This wires Thumbs into it: the stage's buckets, table and queues (`flask infra up`'s
own code), the worker fed the uploads bucket's S3 events as Lambda's trigger feeds it, the
reconciler on a schedule, the holds tests use, and the switches for failures (LOCAL_*).
It imports the app; the app never imports it, and it is never shipped to Lambda.

`FLASK_APP=local` (in `.flaskenv`) serves the site on it: Flask calls `create_app`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass

from app import config, infra, logs
from app.config import Settings
from app.services import services_for
from embedded_aws import (
    ACCOUNT_ID,
    CREDENTIALS,
    EmbeddedAWS,
    EmbeddedAWSError,
    PortInUse,
    S3Events,
    client,
    port_is_free,
)
from embedded_aws.pump import in_a_fresh_process

from .meter import Meter

logger = logging.getLogger(__name__)
# The worker, as the uploads bucket's trigger names it in zappa_settings.json.
WORKER = "app.worker:handle_s3_event"
# Thumbs's stage on the embedded AWS, in a process of its own (embedded_aws.process.running).
LOCAL_COMMAND = (sys.executable, "-m", "local")

__all__ = ["LocalAWSError", "Options", "create_app", "start"]


class LocalAWSError(EmbeddedAWSError):
    """Thumbs cannot start on the embedded AWS; the message says why and what to set."""


@dataclass(frozen=True)
class Options:
    """How the embedded AWS runs for Thumbs, from LOCAL_* variables."""

    local_aws_port: int = 5100  # 0: any free port
    # The worker: "thread" (quick) or "process" (one per event, as a Lambda invocation).
    local_worker: str = "thread"
    local_event_copies: int = 1  # S3 delivers at least once: deliver each event this often
    local_faults: bool = False  # accept injected AWS faults (embedded_aws.faults)
    local_holds: bool = False  # hold an upload or a conversion mid-way for a test (holds.py)
    local_event_loss: float = 0.0  # the share of S3's events lost before the worker, 0 to 1
    reconcile_seconds: int = 60  # how often the reconciler looks for stranded uploads (0: never)

    @classmethod
    def from_env(cls, environ=None) -> Options:
        return cls(**config.read_fields(cls, os.environ if environ is None else environ))


def port_in_use(port: int, what: str, variable: str) -> str:
    """Say, in one line, that another program listens where `what` would, and what to set."""
    return (
        f"Port {port}, where {what} listens, is in use by another program: stop that "
        f"program, or choose a free port with {variable} ({variable}={port + 1} make run)."
    )


def create_app():
    """Return the site served on the embedded AWS, started or reused for it."""
    import click  # flask run says a ClickException in one line, not a traceback

    import app

    site = _site_address()
    try:
        if site and not port_is_free(*site):
            raise LocalAWSError(port_in_use(site[1], "the site", "PORT"))
        settings = start(Settings.from_env().replace(local_aws=True), Options.from_env())
    except EmbeddedAWSError as error:
        raise click.ClickException(str(error)) from error
    # The development server's access line names each path: never a ticket or a share token.
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, logs.RedactedPaths) for f in werkzeug.filters):
        werkzeug.addFilter(logs.RedactedPaths())
    if site:
        click.echo(welcome(f"http://{site[0]}:{site[1]}", settings.aws_endpoint_url))
    return app.create_app({"LOCAL_AWS": True, "AWS_ENDPOINT_URL": settings.aws_endpoint_url})


def _site_address() -> tuple[str, int] | None:
    """Return the host and port `flask run` is about to serve on, when it is what calls."""
    import click

    context = click.get_current_context(silent=True)
    if context is None or context.command.name != "run":
        return None
    return context.params.get("host") or "127.0.0.1", int(context.params.get("port") or 5000)


def welcome(site: str, endpoint: str) -> str:
    """Say where the site and the embedded AWS listen, what they keep, and how to see failures."""
    unavailable = json.dumps({"service": "dynamodb", "kind": "unavailable", "count": 50})
    hold = json.dumps({"hold": "conversion"})
    return "\n".join(
        [
            "",
            f"  Thumbs           {site}",
            f"  embedded AWS     {endpoint}  (S3, DynamoDB, SQS and Lambda; credentials: testing)",
            "  Everything the embedded AWS stores lives in this process's memory: stopping",
            "  make run loses every upload, job and result.",
            "  To see the failure views (more in docs/configuration.md):",
            "    a file that is not an image   upload any other file renamed .jpg",
            "    lost S3 events                LOCAL_EVENT_LOSS=1 make run  (delayed, then done)",
            "    AWS unavailable               LOCAL_FAULTS=1 make run, then",
            f"      curl -d '{unavailable}' {endpoint}/__embedded_aws__/faults",
            "    a conversion held mid-way     LOCAL_HOLDS=1 make run, then",
            f"      curl -d '{hold}' {endpoint}/__thumbs__/holds",
            "",
        ]
    )


def start(settings: Settings, options: Options) -> Settings:
    """Start the embedded AWS, or reuse the one on its port; return `settings` pointed at it.

    Creates the stage's buckets, table and queues. The process that started the server also
    runs what Lambda runs in AWS: the worker for each event, and the reconciler on a schedule.
    """
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        raise LocalAWSError(
            "The embedded AWS is for a developer's machine, not AWS Lambda: remove "
            "LOCAL_AWS from the function's environment and deploy wsgi.app."
        )
    if not 0 <= options.local_event_loss <= 1:
        raise LocalAWSError(
            f"LOCAL_EVENT_LOSS is {options.local_event_loss}: give a share from 0 to 1."
        )
    _use_fake_credentials(settings.aws_region)
    meter = Meter()
    aws = _server(options, meter)
    try:
        # Another Thumbs process on the port is reused: it runs the worker and the schedule.
        owner = aws.start_or_reuse()
    except PortInUse as error:
        raise LocalAWSError(port_in_use(error.port, "the embedded AWS", "LOCAL_AWS_PORT")) from None
    settings = settings.replace(aws_endpoint_url=aws.endpoint, local_aws=True)
    infra.up(settings, log=lambda message: None)
    if owner:
        logs.setup()
        logs.setup(root=__name__)
        events = _deliver_uploads(settings, options, meter)
        aws.invocations.serve(settings.function_name, events.send)
        if options.reconcile_seconds > 0:
            _reconcile_every(settings, options.reconcile_seconds)
    return settings


def _server(options: Options, meter: Meter) -> EmbeddedAWS:
    middleware = [meter.serve]
    if options.local_holds:
        from .holds import Holds

        middleware.append(Holds)
    return EmbeddedAWS(
        options.local_aws_port, CREDENTIALS, faults=options.local_faults, middleware=middleware
    )


def _deliver_uploads(settings: Settings, options: Options, meter: Meter) -> S3Events:
    """Feed the uploads bucket's ObjectCreated events to the worker, as the S3 trigger does."""
    from app.storage import UPLOADS_PREFIX
    from app.worker import handle_s3_event

    # The worker reads its settings from the environment, as Lambda's variables give them.
    os.environ.update(settings.environ())
    timeout = settings.processing_timeout_seconds
    worker = in_a_fresh_process(WORKER, timeout) if options.local_worker == "process" else None
    sqs = client("sqs", settings.aws_endpoint_url)
    failed = sqs.get_queue_url(QueueName=settings.failed_events_queue)["QueueUrl"]
    events = S3Events(
        settings.aws_endpoint_url,
        settings.uploads_bucket,
        meter.timed("worker", worker or handle_s3_event),
        prefix=UPLOADS_PREFIX,
        queue_name=f"thumbs-{settings.stage}-events",
        # Named after the function, as Zappa names the trigger it makes in AWS.
        notification_id=settings.function_name,
        timeout_seconds=timeout,
        copies=options.local_event_copies,
        loss=options.local_event_loss,
        on_lost=_log_lost,
        failed_queue_url=failed,
        function_name=settings.function_name,
        function_arn=f"arn:aws:lambda:{settings.aws_region}:{ACCOUNT_ID}:function:"
        f"{settings.function_name}",
    )
    return events.start()


def _log_lost(event: dict) -> None:
    keys = [r.get("s3", {}).get("object", {}).get("key") for r in event.get("Records", [])]
    logs.event(logger, "event_lost", reason="LOCAL_EVENT_LOSS", keys=keys)


def _reconcile_every(settings: Settings, seconds: int) -> None:
    """Run the reconciler every `seconds`, as the stage's scheduled event does in AWS."""
    from app import reconciler
    from embedded_aws import run_every

    services = services_for(settings)
    run_every(
        seconds,
        lambda: reconciler.recover(services),
        lambda error: logger.error(
            "the reconciler failed; it runs again in %d s", seconds, exc_info=error
        ),
    )


def _use_fake_credentials(region: str) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    key, secret = next(iter(CREDENTIALS.items()))
    os.environ["AWS_ACCESS_KEY_ID"] = key
    os.environ["AWS_SECRET_ACCESS_KEY"] = secret
    os.environ["AWS_DEFAULT_REGION"] = region
