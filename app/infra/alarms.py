"""The stage's alarms, on the metrics its log lines carry (Embedded Metric Format): too many
failed jobs, slow conversions, and any event the function refused. No log query runs for
them, so none is billed."""

from __future__ import annotations

from ..config import Settings
from ..logs import NAMESPACE
from .base import Clients, Difference, apply

FIVE_MINUTES = 300


def alarms(settings: Settings) -> list[dict]:
    """Return the put_metric_alarm arguments of each alarm of the stage."""
    actions = [settings.alarm_topic_arn] if settings.alarm_topic_arn else []
    common = {
        "Namespace": NAMESPACE,
        "Dimensions": [{"Name": "stage", "Value": settings.stage}],
        "Period": FIVE_MINUTES,
        "TreatMissingData": "notBreaching",
        "AlarmActions": actions,
        "OKActions": actions,
    }
    return [
        {
            **common,
            "AlarmName": f"thumbs-{settings.stage}-failures",
            "AlarmDescription": "At least 5 jobs failed in 5 minutes (any code).",
            "MetricName": "failures",
            "Statistic": "Sum",
            "Threshold": 5.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "EvaluationPeriods": 1,
        },
        {
            **common,
            "AlarmName": f"thumbs-{settings.stage}-slow-conversions",
            "AlarmDescription": "Slow conversions: p95 over 5 s for 15 minutes.",
            "MetricName": "conversion_ms",
            "ExtendedStatistic": "p95",
            "Threshold": 5000.0,
            "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 3,
        },
        {
            **common,
            # Nothing the stage runs sends an event it refuses: one is someone trying.
            "AlarmName": f"thumbs-{settings.stage}-refused-events",
            "AlarmDescription": "The function refused an event it does not serve.",
            "MetricName": "refused_events",
            "Statistic": "Sum",
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "EvaluationPeriods": 1,
        },
    ]


def up(settings: Settings, clients: Clients, log) -> list[str]:
    """Create the alarms, or bring them to the expected setup (AWS stages only)."""
    if settings.relaxed:
        return []
    differences = []
    for problem, fix in _differences(settings, clients):
        if problem.endswith(" is missing"):
            fix()
            log(f"created {problem.removesuffix(' is missing')}")
        else:
            differences.append((problem, fix))
    return apply(differences, log)


def check(settings: Settings, clients: Clients) -> list[str]:
    return [] if settings.relaxed else [problem for problem, _ in _differences(settings, clients)]


def down(settings: Settings, clients: Clients, log) -> None:
    """Delete the alarms."""
    if settings.relaxed:
        return
    names = [alarm["AlarmName"] for alarm in alarms(settings)]
    clients["cloudwatch"].delete_alarms(AlarmNames=names)
    log(f"deleted alarms {', '.join(names)}")


def _differences(settings: Settings, clients: Clients) -> list[Difference]:
    cloudwatch = clients["cloudwatch"]
    wanted = alarms(settings)
    found = {
        alarm["AlarmName"]: alarm
        for alarm in cloudwatch.describe_alarms(AlarmNames=[a["AlarmName"] for a in wanted])[
            "MetricAlarms"
        ]
    }
    differences: list[Difference] = []
    for alarm in wanted:
        have = found.get(alarm["AlarmName"])
        if have is None or any(have.get(key) != value for key, value in alarm.items()):
            verb = "is missing" if have is None else "differs from its setup"
            differences.append(
                (
                    f"alarm {alarm['AlarmName']} {verb}",
                    lambda alarm=alarm: cloudwatch.put_metric_alarm(**alarm),
                )
            )
    return differences
