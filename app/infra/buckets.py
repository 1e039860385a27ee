"""The stage's buckets: private, encrypted, expiring, open by CORS to the site's pages only."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..config import Settings
from ..storage import RESULTS_PREFIX, UPLOADS_PREFIX
from .base import Clients, Difference, InfraError, apply, days, quiet

LOCAL_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*"]
_PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
# SSE-S3: encrypted at rest, and the function needs no KMS permission to read or write.
_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


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


def up(settings: Settings, clients: Clients, log) -> list[str]:
    """Create the buckets, or bring them to the expected setup; return what needs a person."""
    s3, manual = clients["s3"], []
    for bucket, setup in bucket_setup(settings).items():
        created = not _bucket_exists(s3, bucket)
        if created:
            _create_bucket(s3, bucket, settings.aws_region)
        # A new bucket is set up silently: its one line says what it became.
        manual += apply(_bucket_differences(s3, bucket, setup), quiet if created else log)
        if created:
            rule = setup["lifecycle"][0]
            log(
                f"created bucket {bucket}: private, encrypted, "
                f"CORS for {_origins(setup) or 'no origin'}, deleting "
                f"{rule['Filter']['Prefix']} after {days(rule['Expiration']['Days'])}"
            )
    return manual


def check(settings: Settings, clients: Clients) -> list[str]:
    """Return what differs from the expected setup of the buckets."""
    s3, problems = clients["s3"], []
    for bucket, setup in bucket_setup(settings).items():
        if not _bucket_exists(s3, bucket):
            problems.append(f"bucket {bucket} is missing")
            continue
        problems += [problem for problem, _ in _bucket_differences(s3, bucket, setup)]
    return problems


def down(settings: Settings, clients: Clients, log) -> None:
    """Delete the buckets, with every object and version in them."""
    s3 = clients["s3"]
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


def _origins(setup: dict) -> list[str]:
    return [origin for rule in setup["cors"] for origin in rule["AllowedOrigins"]]


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
        after = days(setup["lifecycle"][0]["Expiration"]["Days"])
        found.append(
            (
                f"bucket {bucket} has no lifecycle rule expiring "
                f"{setup['lifecycle'][0]['Filter']['Prefix']} after {after}",
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
