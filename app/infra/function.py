"""The stage's function, once Zappa has deployed it: where the events it failed on are kept.

Lambda retries an asynchronous event twice, then drops it. With an on-failure destination it
keeps it instead, in an SQS queue, where `flask jobs failed-events` finds and replays it.
Zappa 0.63 has no setting for it, so `flask infra up` applies it after `zappa deploy`.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..config import Settings
from .base import Clients, Difference, apply

RETENTION_SECONDS = 14 * 24 * 3600  # SQS's longest
# Lambda's own defaults, written down: two retries, and an event may wait six hours.
ASYNC_RETRIES = 2
ASYNC_MAX_AGE_SECONDS = 6 * 3600


def up(settings: Settings, clients: Clients, log) -> list[str]:
    """Create the failed-events queue; point the deployed function's failures at it."""
    sqs, name = clients["sqs"], settings.failed_events_queue
    if _queue_url(sqs, name) is None:
        sqs.create_queue(
            QueueName=name, Attributes={"MessageRetentionPeriod": str(RETENTION_SECONDS)}
        )
        log(f"created queue {name}: keeps the events the worker failed on, for 14 days")
    if settings.relaxed:
        return []  # the embedded AWS runs no function: its pump keeps failed events itself
    differences = _function_differences(settings, clients)
    if differences is None:
        log(
            f"function {settings.function_name} is not deployed yet: run flask infra up again "
            "after zappa deploy, to keep the events it fails on"
        )
        return []
    return apply(differences, log)


def check(settings: Settings, clients: Clients) -> list[str]:
    """Return what differs from the expected setup of the queue and the function."""
    problems = []
    if _queue_url(clients["sqs"], settings.failed_events_queue) is None:
        problems.append(f"queue {settings.failed_events_queue} is missing")
    if not settings.relaxed:
        differences = _function_differences(settings, clients)
        if differences is None:
            problems.append(f"function {settings.function_name} is not deployed (zappa deploy)")
        else:
            problems += [problem for problem, _ in differences]
    return problems


def down(settings: Settings, clients: Clients, log) -> None:
    """Delete the failed-events queue (Zappa's undeploy removes the function)."""
    sqs, name = clients["sqs"], settings.failed_events_queue
    url = _queue_url(sqs, name)
    if url is None:
        log(f"queue {name} was already gone")
        return
    sqs.delete_queue(QueueUrl=url)
    log(f"deleted queue {name}")


def _queue_url(sqs, name: str) -> str | None:
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        if error.response["Error"]["Code"] in (
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
        ):
            return None
        raise


def _function_differences(settings: Settings, clients: Clients) -> list[Difference] | None:
    """Return how the function differs from its expected setup; None if it does not exist."""
    lambda_, name = clients["lambda"], settings.function_name
    try:
        function = lambda_.get_function_configuration(FunctionName=name)
    except lambda_.exceptions.ResourceNotFoundException:
        return None
    try:
        found = lambda_.get_function_event_invoke_config(FunctionName=name)
    except lambda_.exceptions.ResourceNotFoundException:
        found = {}
    account = function["FunctionArn"].split(":")[4]
    destination = f"arn:aws:sqs:{settings.aws_region}:{account}:{settings.failed_events_queue}"
    wanted = {
        "MaximumRetryAttempts": ASYNC_RETRIES,
        "MaximumEventAgeInSeconds": ASYNC_MAX_AGE_SECONDS,
        "DestinationConfig": {"OnFailure": {"Destination": destination}},
    }
    have = {
        "MaximumRetryAttempts": found.get("MaximumRetryAttempts"),
        "MaximumEventAgeInSeconds": found.get("MaximumEventAgeInSeconds"),
        "DestinationConfig": {
            "OnFailure": {
                "Destination": found.get("DestinationConfig", {})
                .get("OnFailure", {})
                .get("Destination")
            }
        },
    }
    if have == wanted:
        return []
    return [
        (
            f"function {name} does not send the events it fails on to {destination}",
            lambda: lambda_.put_function_event_invoke_config(FunctionName=name, **wanted),
        )
    ]
