"""The embedded AWS, for `make run`, `flask run`, the tests and the stress suite.

moto's S3, DynamoDB and SQS on 127.0.0.1, S3 behind a gate that refuses what S3 refuses,
and a pump that feeds S3 events to the worker as Lambda's trigger does. It imports the app;
the app never imports it, and it is never shipped to Lambda.

`FLASK_APP=embedded_aws` (in `.flaskenv`) serves the site on it: Flask calls `create_app`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass

from app import config, infra, logs
from app.config import Settings
from app.services import client, services_for

from .server import EmbeddedAWS, LocalAWSError, port_in_use, port_is_free

# Fake, fixed credentials: local mode must never reach a real account.
CREDENTIALS = {"testing": "testing"}
logger = logging.getLogger(__name__)

__all__ = ["CREDENTIALS", "LocalAWSError", "Options", "create_app", "start"]


@dataclass(frozen=True)
class Options:
    """How the embedded AWS runs, from LOCAL_* variables."""

    local_aws_port: int = 5100  # 0: any free port
    # The worker: "thread" (quick) or "process" (one per event, as a Lambda invocation).
    local_worker: str = "thread"
    local_event_copies: int = 1  # S3 delivers at least once: deliver each event this often
    local_faults: bool = False  # accept injected AWS faults (see faults.py)
    local_holds: bool = False  # hold an upload or a conversion mid-way for a test (holds.py)
    local_event_loss: float = 0.0  # the share of S3's events lost before the worker, 0 to 1
    reconcile_seconds: int = 60  # how often the reconciler looks for stranded uploads (0: never)

    @classmethod
    def from_env(cls, environ=None) -> Options:
        return cls(**config.read_fields(cls, os.environ if environ is None else environ))


def create_app():
    """Return the site served on the embedded AWS, started or reused for it."""
    import click  # flask run says a ClickException in one line, not a traceback

    import app

    site = _site_address()
    try:
        if site and not port_is_free(*site):
            raise LocalAWSError(port_in_use(site[1], "the site", "PORT"))
        settings = start(Settings.from_env().replace(local_aws=True), Options.from_env())
    except LocalAWSError as error:
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
            f"      curl -d '{unavailable}' {endpoint}/__thumbs__/faults",
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
    aws = EmbeddedAWS(
        options.local_aws_port,
        CREDENTIALS,
        faults=options.local_faults,
        holds=options.local_holds,
    )
    owner = aws.start_or_reuse()
    settings = settings.replace(aws_endpoint_url=aws.endpoint, local_aws=True)
    infra.up(settings, log=lambda message: None)
    s3, sqs = client("s3", settings), client("sqs", settings)
    queue_url = connect_queue(settings, s3, sqs)
    if owner:
        logs.setup()
        logs.setup(root=__name__)
        aws.invocations.serve(
            settings.function_name,
            lambda body: sqs.send_message(QueueUrl=queue_url, MessageBody=body),
        )
        _start_pump(settings, options, sqs, queue_url)
        if options.reconcile_seconds > 0:
            _reconcile_every(settings, options.reconcile_seconds)
    return settings


def connect_queue(settings: Settings, s3, sqs) -> str:
    """Send the uploads bucket's ObjectCreated events to a queue (as AWS's S3 trigger)."""
    from app.storage import UPLOADS_PREFIX

    queue_url = sqs.create_queue(
        QueueName=f"thumbs-{settings.stage}-events",
        # A delivery stays hidden while the worker may still be converting it.
        Attributes={"VisibilityTimeout": str(settings.processing_timeout_seconds)},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=settings.uploads_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    # Named after the function, as Zappa names the trigger it makes in AWS.
                    "Id": settings.function_name,
                    "QueueArn": arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {"FilterRules": [{"Name": "prefix", "Value": UPLOADS_PREFIX}]}
                    },
                }
            ]
        },
    )
    return queue_url


def _start_pump(settings: Settings, options: Options, sqs, queue_url: str) -> None:
    from app.worker import handle_s3_event

    from .pump import Pump, in_a_fresh_process

    # The worker reads its settings from the environment, as Lambda's variables give them.
    os.environ.update(settings.environ())
    timeout = settings.processing_timeout_seconds
    handler = in_a_fresh_process(timeout) if options.local_worker == "process" else handle_s3_event
    failed = sqs.get_queue_url(QueueName=settings.failed_events_queue)["QueueUrl"]
    Pump(
        sqs,
        queue_url,
        handler,
        timeout_seconds=timeout,
        copies=options.local_event_copies,
        failed_queue_url=failed,
        function_arn=f"arn:aws:lambda:{settings.aws_region}:123456789012:function:"
        f"{settings.function_name}",
        loss=options.local_event_loss,
    ).start()


def _reconcile_every(settings: Settings, seconds: int) -> None:
    """Run the reconciler every `seconds`, as the stage's scheduled event does in AWS."""
    from app import reconciler

    services = services_for(settings)

    def loop() -> None:
        while True:
            time.sleep(seconds)
            try:
                reconciler.recover(services)
            except Exception:  # the next run tries again, as the next scheduled event would
                logger.exception("the reconciler failed; it runs again in %d s", seconds)

    threading.Thread(target=loop, name="embedded-aws-reconciler", daemon=True).start()


def _use_fake_credentials(region: str) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    os.environ["AWS_DEFAULT_REGION"] = region
