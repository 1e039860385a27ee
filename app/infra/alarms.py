"""The stage's alarms, on the metrics its log lines carry (Embedded Metric Format): too many
failed jobs, slow conversions, and any event the function refused. No log query runs for
them, so none is billed. And, at a threshold the operator gives (BILLING_ALARM_USD), one on
the account's estimated charges for the month, which AWS publishes in us-east-1 only."""

from __future__ import annotations

from ..config import Settings
from ..logs import NAMESPACE
from .base import Clients, Difference, apply

FIVE_MINUTES = 300
SIX_HOURS = 21600  # AWS updates the estimated charges a few times a day
BILLING_REGION = "us-east-1"  # the only region AWS publishes billing metrics in


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


def billing_alarm(settings: Settings) -> dict | None:
    """Return the put_metric_alarm arguments of the billing alarm, or None without a threshold."""
    if not settings.billing_alarm_usd:
        return None
    actions = [settings.alarm_topic_arn] if settings.alarm_topic_arn else []
    return {
        "AlarmName": f"thumbs-{settings.stage}-billing",
        "AlarmDescription": (
            f"The account's estimated charges this month are over {settings.billing_alarm_usd} "
            "USD (every service of the account, not only this stage)."
        ),
        "Namespace": "AWS/Billing",
        "MetricName": "EstimatedCharges",
        "Dimensions": [{"Name": "Currency", "Value": "USD"}],
        "Statistic": "Maximum",
        "Period": SIX_HOURS,
        "EvaluationPeriods": 1,
        "Threshold": float(settings.billing_alarm_usd),
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": actions,
        "OKActions": actions,
    }


def up(settings: Settings, clients: Clients, log) -> list[str]:
    """Create the alarms, or bring them to the expected setup (AWS stages only)."""
    if settings.relaxed:
        return []
    differences = []
    for problem, fix in _differences(settings, clients) + _billing_differences(settings, clients):
        if problem.endswith(" is missing"):
            fix()
            log(f"created {problem.removesuffix(' is missing')}")
        else:
            differences.append((problem, fix))
    return apply(differences, log)


def check(settings: Settings, clients: Clients) -> list[str]:
    if settings.relaxed:
        return []
    found = _differences(settings, clients) + _billing_differences(settings, clients)
    return [problem for problem, _ in found]


def down(settings: Settings, clients: Clients, log) -> None:
    """Delete the alarms."""
    if settings.relaxed:
        return
    names = [alarm["AlarmName"] for alarm in alarms(settings)]
    clients["cloudwatch"].delete_alarms(AlarmNames=names)
    log(f"deleted alarms {', '.join(names)}")
    # Made only when a threshold was given: deleted only if it is there, since DeleteAlarms
    # deletes nothing at all when one of the names it is given does not exist.
    billing, name = _billing_client(settings, clients), f"thumbs-{settings.stage}-billing"
    if billing.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
        billing.delete_alarms(AlarmNames=[name])
        log(f"deleted alarm {name}")


def _billing_client(settings: Settings, clients: Clients):
    """Return CloudWatch in us-east-1, where the billing metric is, whatever the stage's region."""
    if settings.aws_region == BILLING_REGION:
        return clients["cloudwatch"]
    from ..services import client

    return client("cloudwatch", settings.replace(aws_region=BILLING_REGION))


def _billing_differences(settings: Settings, clients: Clients) -> list[Difference]:
    wanted = billing_alarm(settings)
    if wanted is None:  # no threshold given: one made before is left as it is
        return []
    return _differences(settings, clients, [wanted], _billing_client(settings, clients))


def _differences(
    settings: Settings, clients: Clients, wanted=None, cloudwatch=None
) -> list[Difference]:
    cloudwatch = cloudwatch or clients["cloudwatch"]
    wanted = alarms(settings) if wanted is None else wanted
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
