"""Create, check and remove what Thumbs needs in AWS; every step is idempotent."""

from __future__ import annotations

import time
from collections.abc import Callable

from botocore.exceptions import ClientError

from .config import Settings
from .jobs import VISITOR_INDEX
from .storage import RESULTS_PREFIX, UPLOADS_PREFIX

LOCAL_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*"]
TTL_ATTRIBUTE = "expires_at"
_PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
# SSE-S3: encrypted at rest, and the function needs no KMS permission to read or write.
_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
_INDEX = {
    "IndexName": VISITOR_INDEX,
    "KeySchema": [
        {"AttributeName": "visitor_id", "KeyType": "HASH"},
        {"AttributeName": "created_at", "KeyType": "RANGE"},
    ],
    "Projection": {"ProjectionType": "ALL"},
}
_ATTRIBUTES = [
    {"AttributeName": "job_id", "AttributeType": "S"},
    {"AttributeName": "visitor_id", "AttributeType": "S"},
    {"AttributeName": "created_at", "AttributeType": "N"},
]

# A difference from the expected setup: what is wrong, and how to put it right (None: by hand).
Difference = tuple[str, Callable[[], None] | None]


class InfraError(RuntimeError):
    """Part of a stage cannot be brought to the expected setup automatically."""


def site_origins(settings: Settings) -> list[str]:
    """Return the origins whose pages may talk to the buckets from a browser."""
    return [*settings.site_origin, *(LOCAL_ORIGINS if settings.relaxed else [])]


def bucket_setup(settings: Settings) -> dict[str, dict]:
    """Return, per bucket, the CORS rules and lifecycle rules it must have."""
    origins = site_origins(settings)

    def setup(prefix: str, methods: list[str], days: int, exposed: list[str]) -> dict:
        rules = [
            {
                "ID": "expire",
                "Status": "Enabled",
                "Filter": {"Prefix": prefix},
                "Expiration": {"Days": days},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            }
        ]
        cors = (
            [
                {
                    "AllowedMethods": methods,
                    "AllowedOrigins": origins,
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": exposed,
                    "MaxAgeSeconds": 3600,
                }
            ]
            if origins
            else []
        )
        return {"cors": cors, "lifecycle": rules}

    return {
        # An upload is worth nothing once converted; a day covers every retry.
        settings.uploads_bucket: setup(UPLOADS_PREFIX, ["POST"], 1, ["ETag", "Location"]),
        settings.results_bucket: setup(
            RESULTS_PREFIX,
            ["GET", "HEAD"],
            settings.job_ttl_days,
            ["Content-Length", "Content-Type"],
        ),
    }


def up(settings: Settings, s3, dynamodb, log=print) -> None:
    """Create the buckets and the table, or bring them to the expected setup."""
    manual = []
    for bucket, setup in bucket_setup(settings).items():
        created = not _bucket_exists(s3, bucket)
        if created:
            _create_bucket(s3, bucket, settings.aws_region)
        # A new bucket is set up silently: its one line says what it became.
        manual += _apply(_bucket_differences(s3, bucket, setup), _quiet if created else log)
        if created:
            rule = setup["lifecycle"][0]
            log(
                f"created bucket {bucket}: private, encrypted, "
                f"CORS for {_origins(setup) or 'no origin'}, deleting "
                f"{rule['Filter']['Prefix']} after {_days(rule['Expiration']['Days'])}"
            )
    table = settings.jobs_table
    created = _describe_table(dynamodb, table) is None
    if created:
        _create_table(dynamodb, table)
    manual += _apply(_table_differences(dynamodb, table), _quiet if created else log)
    if created:
        log(f"created table {table}: on demand, TTL on {TTL_ATTRIBUTE}, index {VISITOR_INDEX}")
    if manual:
        raise InfraError("Fix by hand: " + "; ".join(manual))


def check(settings: Settings, s3, dynamodb) -> list[str]:
    """Return what differs from the expected setup, one sentence each (empty: all is well)."""
    problems = []
    if not site_origins(settings):
        problems.append(
            "SITE_ORIGIN is not set, so no page may upload by script: set it to "
            "the site's origin (https://host), then run flask infra up"
        )
    for bucket, setup in bucket_setup(settings).items():
        if not _bucket_exists(s3, bucket):
            problems.append(f"bucket {bucket} is missing")
            continue
        problems += [problem for problem, _ in _bucket_differences(s3, bucket, setup)]
    table = settings.jobs_table
    if _describe_table(dynamodb, table) is None:
        return problems + [f"table {table} is missing"]
    return problems + [problem for problem, _ in _table_differences(dynamodb, table)]


def down(settings: Settings, s3, dynamodb, log=print) -> None:
    """Delete the buckets (with every object and version in them) and the table."""
    for bucket in bucket_setup(settings):
        if not _bucket_exists(s3, bucket):
            log(f"bucket {bucket} was already gone")
            continue
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            versions = page.get("Versions", []) + page.get("DeleteMarkers", [])
            if versions:
                s3.delete_objects(
                    Bucket=bucket,
                    Delete={
                        "Quiet": True,
                        "Objects": [
                            {"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions
                        ],
                    },
                )
        s3.delete_bucket(Bucket=bucket)
        log(f"deleted bucket {bucket}")
    try:
        dynamodb.delete_table(TableName=settings.jobs_table)
        log(f"deleted table {settings.jobs_table}")
    except dynamodb.exceptions.ResourceNotFoundException:
        log(f"table {settings.jobs_table} was already gone")


def _quiet(message: str) -> None:
    """Log nothing."""


def _origins(setup: dict) -> list[str]:
    return [origin for rule in setup["cors"] for origin in rule["AllowedOrigins"]]


def _days(days: int) -> str:
    return f"{days} day" if days == 1 else f"{days} days"


def _apply(differences: list[Difference], log) -> list[str]:
    """Put right what can be; return the problems that need a person."""
    manual = []
    for problem, fix in differences:
        if fix is None:
            manual.append(problem)
        else:
            fix()
            log(f"fixed: {problem}")
    return manual


def _bucket_exists(s3, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
            return False
        # 403: the name belongs to another account; S3 bucket names are global.
        raise InfraError(
            f"bucket {bucket} exists but is not yours ({error}): "
            "choose other names with UPLOADS_BUCKET and RESULTS_BUCKET"
        ) from error


def _create_bucket(s3, bucket: str, region: str) -> None:
    options = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=bucket, **options)
    s3.get_waiter("bucket_exists").wait(Bucket=bucket, WaiterConfig={"Delay": 1})


def _read(call, missing: str, key: str):
    """Return `call()[key]`, or None when S3 answers that the configuration is absent."""
    try:
        return call()[key]
    except ClientError as error:
        if error.response["Error"]["Code"] == missing:
            return None
        raise


def _bucket_differences(s3, bucket: str, setup: dict) -> list[Difference]:
    found = []
    block = _read(
        lambda: s3.get_public_access_block(Bucket=bucket),
        "NoSuchPublicAccessBlockConfiguration",
        "PublicAccessBlockConfiguration",
    )
    if block != _PUBLIC_ACCESS_BLOCK:
        found.append(
            (
                f"bucket {bucket} does not block all public access",
                lambda: s3.put_public_access_block(
                    Bucket=bucket, PublicAccessBlockConfiguration=_PUBLIC_ACCESS_BLOCK
                ),
            )
        )
    encryption = _read(
        lambda: s3.get_bucket_encryption(Bucket=bucket),
        "ServerSideEncryptionConfigurationNotFoundError",
        "ServerSideEncryptionConfiguration",
    )
    algorithms = [
        r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
        for r in (encryption or {}).get("Rules", [])
    ]
    if algorithms != ["AES256"]:
        found.append(
            (
                f"bucket {bucket} does not encrypt by default with SSE-S3 (AES256)",
                lambda: s3.put_bucket_encryption(
                    Bucket=bucket, ServerSideEncryptionConfiguration=_ENCRYPTION
                ),
            )
        )
    cors = (
        _read(lambda: s3.get_bucket_cors(Bucket=bucket), "NoSuchCORSConfiguration", "CORSRules")
        or []
    )
    if _cors_key(cors) != _cors_key(setup["cors"]):
        origins = _origins(setup)
        found.append(
            (
                f"bucket {bucket} CORS does not allow exactly {origins or 'no origin'} "
                f"to {setup['cors'][0]['AllowedMethods'] if origins else 'do anything'}",
                lambda: _put_cors(s3, bucket, setup["cors"]),
            )
        )
    rules = (
        _read(
            lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket),
            "NoSuchLifecycleConfiguration",
            "Rules",
        )
        or []
    )
    if not _lifecycle_key(setup["lifecycle"]) <= _lifecycle_key(rules):
        days = _days(setup["lifecycle"][0]["Expiration"]["Days"])
        found.append(
            (
                f"bucket {bucket} has no lifecycle rule expiring "
                f"{setup['lifecycle'][0]['Filter']['Prefix']} after {days}",
                lambda: s3.put_bucket_lifecycle_configuration(
                    Bucket=bucket, LifecycleConfiguration={"Rules": setup["lifecycle"]}
                ),
            )
        )
    return found


def _cors_key(rules: list[dict]) -> list:
    fields = ("AllowedMethods", "AllowedOrigins", "AllowedHeaders", "ExposeHeaders")
    return sorted(
        tuple(tuple(sorted(r.get(f, []))) for f in fields) + (r.get("MaxAgeSeconds"),)
        for r in rules
    )


def _put_cors(s3, bucket: str, rules: list[dict]) -> None:
    if rules:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    else:
        s3.delete_bucket_cors(Bucket=bucket)


def _lifecycle_key(rules: list[dict]) -> set:
    return {
        (
            r.get("Status"),
            (r.get("Filter") or {}).get("Prefix", r.get("Prefix")),
            (r.get("Expiration") or {}).get("Days"),
            (r.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation"),
        )
        for r in rules
    }


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
    index = indexes.get(VISITOR_INDEX)
    if index is None:
        found.append(
            (
                f"table {table} has no {VISITOR_INDEX} index",
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
                f"table {table} index {VISITOR_INDEX} is not visitor_id/created_at with "
                "every attribute: delete the index and run up",
                None,
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
