"""The jobs table: on demand, keyed by job id, with TTL and the index of each owner's jobs."""

from __future__ import annotations

import time

from ..config import Settings
from ..jobs import OWNER_INDEX
from .base import Clients, Difference, apply, quiet

TTL_ATTRIBUTE = "expires_at"
# The index of an earlier version: up removes it once its successor exists.
_OLD_INDEXES = ("by_visitor",)
_INDEX = {
    "IndexName": OWNER_INDEX,
    "KeySchema": [
        {"AttributeName": "owner", "KeyType": "HASH"},
        {"AttributeName": "created_at", "KeyType": "RANGE"},
    ],
    "Projection": {"ProjectionType": "ALL"},
}
_ATTRIBUTES = [
    {"AttributeName": "job_id", "AttributeType": "S"},
    {"AttributeName": "owner", "AttributeType": "S"},
    {"AttributeName": "created_at", "AttributeType": "N"},
]


def up(settings: Settings, clients: Clients, log) -> list[str]:
    """Create the table, or bring it to the expected setup; return what needs a person."""
    dynamodb, table = clients["dynamodb"], settings.jobs_table
    created = _describe_table(dynamodb, table) is None
    if created:
        _create_table(dynamodb, table)
    manual = apply(_table_differences(dynamodb, table), quiet if created else log)
    if created:
        log(f"created table {table}: on demand, TTL on {TTL_ATTRIBUTE}, index {OWNER_INDEX}")
    return manual


def check(settings: Settings, clients: Clients) -> list[str]:
    """Return what differs from the expected setup of the table."""
    dynamodb, table = clients["dynamodb"], settings.jobs_table
    if _describe_table(dynamodb, table) is None:
        return [f"table {table} is missing"]
    return [problem for problem, _ in _table_differences(dynamodb, table)]


def down(settings: Settings, clients: Clients, log) -> None:
    """Delete the table."""
    dynamodb = clients["dynamodb"]
    try:
        dynamodb.delete_table(TableName=settings.jobs_table)
        log(f"deleted table {settings.jobs_table}")
    except dynamodb.exceptions.ResourceNotFoundException:
        log(f"table {settings.jobs_table} was already gone")


def _describe_table(dynamodb, table: str) -> dict | None:
    try:
        return dynamodb.describe_table(TableName=table)["Table"]
    except dynamodb.exceptions.ResourceNotFoundException:
        return None


def _create_table(dynamodb, table: str) -> None:
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=_ATTRIBUTES,
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[_INDEX],
    )
    _wait_until_active(dynamodb, table)


def _update_table(dynamodb, table: str, **changes) -> None:
    dynamodb.update_table(TableName=table, **changes)
    _wait_until_active(dynamodb, table)


def _wait_until_active(dynamodb, table: str) -> None:
    """Wait for the table and its indexes: DynamoDB takes one change at a time."""
    dynamodb.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 300}
    )
    while any(
        i.get("IndexStatus") not in (None, "ACTIVE")
        for i in _describe_table(dynamodb, table).get("GlobalSecondaryIndexes", [])
    ):
        time.sleep(2)


def _table_differences(dynamodb, table: str) -> list[Difference]:
    description = _describe_table(dynamodb, table)
    found: list[Difference] = []
    if description["KeySchema"] != [{"AttributeName": "job_id", "KeyType": "HASH"}]:
        found.append((f"table {table} is not keyed by job_id alone: delete it and run up", None))
    if description.get("BillingModeSummary", {}).get("BillingMode") != "PAY_PER_REQUEST":
        found.append(
            (
                f"table {table} is not on demand (PAY_PER_REQUEST)",
                lambda: _update_table(dynamodb, table, BillingMode="PAY_PER_REQUEST"),
            )
        )
    indexes = {i["IndexName"]: i for i in description.get("GlobalSecondaryIndexes", [])}
    index = indexes.get(OWNER_INDEX)
    if index is None:
        found.append(
            (
                f"table {table} has no {OWNER_INDEX} index",
                lambda: _update_table(
                    dynamodb,
                    table,
                    AttributeDefinitions=_ATTRIBUTES,
                    GlobalSecondaryIndexUpdates=[{"Create": _INDEX}],
                ),
            )
        )
    elif (index["KeySchema"], index["Projection"]) != (_INDEX["KeySchema"], _INDEX["Projection"]):
        found.append(
            (
                f"table {table} index {OWNER_INDEX} is not owner/created_at with "
                "every attribute: delete the index and run up",
                None,
            )
        )
    stale = [name for name in _OLD_INDEXES if name in indexes]
    if index is not None and stale:
        found.append(
            (
                f"table {table} still has the index {stale[0]}, which nothing reads",
                lambda: _update_table(
                    dynamodb,
                    table,
                    GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": stale[0]}}],
                ),
            )
        )
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        found.append(
            (
                f"table {table} has no TTL on {TTL_ATTRIBUTE}",
                lambda: dynamodb.update_time_to_live(
                    TableName=table,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
                ),
            )
        )
    elif ttl.get("AttributeName") != TTL_ATTRIBUTE:
        found.append(
            (
                f"table {table} has TTL on {ttl.get('AttributeName')}, not "
                f"{TTL_ATTRIBUTE}: disable it, then run up an hour later",
                None,
            )
        )
    return found
