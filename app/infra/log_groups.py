"""Logs expire: every log group of the stage keeps its lines `LOG_RETENTION_DAYS`, not forever.

CloudWatch Logs keeps a group's lines forever unless the group has a retention, and Lambda
creates its function's group without one on the first invocation: log storage would grow with
time, not with traffic. `flask infra up` makes the function's group if Lambda has not yet (so
it never exists without a retention), and sets the retention on it and on every other group
of the stage (`/aws/lambda/<function>` and any under that name).
"""

from __future__ import annotations

from ..config import Settings
from .base import Clients, Difference, apply, days


def group_name(settings: Settings) -> str:
    return f"/aws/lambda/{settings.function_name}"


def up(settings: Settings, clients: Clients, log) -> list[str]:
    logs, name = clients["logs"], group_name(settings)
    if name not in _retentions(settings, clients):
        logs.create_log_group(logGroupName=name)
        logs.put_retention_policy(logGroupName=name, retentionInDays=settings.log_retention_days)
        log(f"created log group {name}: keeps its lines {days(settings.log_retention_days)}")
    return apply(_differences(settings, clients), log)


def check(settings: Settings, clients: Clients) -> list[str]:
    problems = [problem for problem, _ in _differences(settings, clients)]
    if group_name(settings) not in _retentions(settings, clients):
        problems.append(f"log group {group_name(settings)} is missing")
    return problems


def down(settings: Settings, clients: Clients, log) -> None:
    """Nothing: `zappa undeploy --remove-logs` removes the function's logs."""


def _retentions(settings: Settings, clients: Clients) -> dict[str, int | None]:
    """Return the stage's log groups and the days each keeps its lines (None: forever)."""
    pages = (
        clients["logs"]
        .get_paginator("describe_log_groups")
        .paginate(logGroupNamePrefix=group_name(settings))
    )
    return {
        group["logGroupName"]: group.get("retentionInDays")
        for page in pages
        for group in page.get("logGroups", [])
    }


def _differences(settings: Settings, clients: Clients) -> list[Difference]:
    wanted = settings.log_retention_days
    return [
        (
            f"log group {name} keeps its lines "
            f"{'forever' if kept is None else days(kept)}, not {days(wanted)}",
            lambda name=name: clients["logs"].put_retention_policy(
                logGroupName=name, retentionInDays=wanted
            ),
        )
        for name, kept in _retentions(settings, clients).items()
        if kept != wanted
    ]
