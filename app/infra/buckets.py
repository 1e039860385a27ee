"""The stage's buckets: this account's, private, ACLs off, TLS only, encrypted, expiring, open by
CORS to the site's pages only.

Bucket names are global and these are predictable, so every call names the bucket's owner
(ExpectedBucketOwner): S3 answers 403 rather than act on a bucket of the same name that
another account made first, and `flask infra up` then stops and says so.
"""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from ..config import Settings
from ..storage import RESULTS_PREFIX, UPLOADS_KEPT_DAYS, UPLOADS_PREFIX
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
# ACLs off: the bucket owns every object, whoever wrote it, and no ACL can grant access.
OWNERSHIP = "BucketOwnerEnforced"


def tls_only_policy(bucket: str) -> dict:
    """Return the bucket policy that refuses every request made without TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyWithoutTLS",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def site_origins(settings: Settings) -> list[str]:
    """Return the origins whose pages may talk to the buckets from a browser."""
    return [*settings.site_origin, *(LOCAL_ORIGINS if settings.relaxed else [])]


def bucket_setup(settings: Settings) -> dict[str, dict]:
    """Return, per bucket, the CORS rules, lifecycle rules and policy it must have."""
    origins = site_origins(settings)

    def setup(bucket: str, prefix: str, methods: list[str], days: int, exposed: list[str]):
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
        return {"cors": cors, "lifecycle": rules, "policy": tls_only_policy(bucket)}

    uploads, results = settings.uploads_bucket, settings.results_bucket
    return {
        # An upload is worth nothing once converted; a day covers every retry.
        uploads: setup(uploads, UPLOADS_PREFIX, ["POST"], UPLOADS_KEPT_DAYS, ["ETag", "Location"]),
        results: setup(
            results,
            RESULTS_PREFIX,
            ["GET", "HEAD"],
            settings.job_ttl_days,
            ["Content-Length", "Content-Type"],
        ),
    }


def up(settings: Settings, clients: Clients, log) -> list[str]:
    """Create the buckets, or bring them to the expected setup; return what needs a person."""
    s3, owner, manual = clients["s3"], clients.account, []
    for bucket, setup in bucket_setup(settings).items():
        created = not _bucket_exists(s3, bucket, owner)
        if created:
            _create_bucket(s3, bucket, settings.aws_region, owner)
        # A new bucket is set up silently: its one line says what it became.
        differences = _bucket_differences(s3, bucket, setup, owner)
        manual += apply(differences, quiet if created else log)
        if created:
            rule = setup["lifecycle"][0]
            log(
                f"created bucket {bucket}: private, ACLs off, TLS only, encrypted, "
                f"CORS for {_origins(setup) or 'no origin'}, deleting "
                f"{rule['Filter']['Prefix']} after {days(rule['Expiration']['Days'])}"
            )
    return manual


def check(settings: Settings, clients: Clients) -> list[str]:
    """Return what differs from the expected setup of the buckets."""
    s3, owner, problems = clients["s3"], clients.account, []
    for bucket, setup in bucket_setup(settings).items():
        if not _bucket_exists(s3, bucket, owner):
            problems.append(f"bucket {bucket} is missing")
            continue
        problems += [problem for problem, _ in _bucket_differences(s3, bucket, setup, owner)]
    return problems


def down(settings: Settings, clients: Clients, log) -> None:
    """Delete the buckets, with every object and version in them."""
    s3, owner = clients["s3"], clients.account
    mine = {"ExpectedBucketOwner": owner}
    for bucket in bucket_setup(settings):
        if not _bucket_exists(s3, bucket, owner):
            log(f"bucket {bucket} was already gone")
            continue
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, **mine):
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
                    **mine,
                )
        s3.delete_bucket(Bucket=bucket, **mine)
        log(f"deleted bucket {bucket}")


def _origins(setup: dict) -> list[str]:
    return [origin for rule in setup["cors"] for origin in rule["AllowedOrigins"]]


def _bucket_exists(s3, bucket: str, owner: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner)
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
            return False
        # 403: the name belongs to another account (S3 bucket names are global), or these
        # credentials may not read it.
        raise InfraError(
            f"bucket {bucket} exists but account {owner} does not own it ({error}): "
            "choose other names with UPLOADS_BUCKET and RESULTS_BUCKET"
        ) from error


def _create_bucket(s3, bucket: str, region: str, owner: str) -> None:
    options = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=bucket, ObjectOwnership=OWNERSHIP, **options)
    s3.get_waiter("bucket_exists").wait(
        Bucket=bucket, ExpectedBucketOwner=owner, WaiterConfig={"Delay": 1}
    )


def _read(call, missing: str, key: str):
    """Return `call()[key]`, or None when S3 answers that the configuration is absent."""
    try:
        return call()[key]
    except ClientError as error:
        if error.response["Error"]["Code"] == missing:
            return None
        raise


def _bucket_differences(s3, bucket: str, setup: dict, owner: str) -> list[Difference]:
    mine = {"Bucket": bucket, "ExpectedBucketOwner": owner}
    found = _access_differences(s3, bucket, setup, mine)
    encryption = _read(
        lambda: s3.get_bucket_encryption(**mine),
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
                    ServerSideEncryptionConfiguration=_ENCRYPTION, **mine
                ),
            )
        )
    cors = _read(lambda: s3.get_bucket_cors(**mine), "NoSuchCORSConfiguration", "CORSRules") or []
    if _cors_key(cors) != _cors_key(setup["cors"]):
        origins = _origins(setup)
        found.append(
            (
                f"bucket {bucket} CORS does not allow exactly {origins or 'no origin'} "
                f"to {setup['cors'][0]['AllowedMethods'] if origins else 'do anything'}",
                lambda: _put_cors(s3, mine, setup["cors"]),
            )
        )
    rules = (
        _read(
            lambda: s3.get_bucket_lifecycle_configuration(**mine),
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
                    LifecycleConfiguration={"Rules": setup["lifecycle"]}, **mine
                ),
            )
        )
    return found


def _access_differences(s3, bucket: str, setup: dict, mine: dict) -> list[Difference]:
    """Return how the bucket's public access block, ownership and policy differ."""
    found = []
    block = _read(
        lambda: s3.get_public_access_block(**mine),
        "NoSuchPublicAccessBlockConfiguration",
        "PublicAccessBlockConfiguration",
    )
    if block != _PUBLIC_ACCESS_BLOCK:
        found.append(
            (
                f"bucket {bucket} does not block all public access",
                lambda: s3.put_public_access_block(
                    PublicAccessBlockConfiguration=_PUBLIC_ACCESS_BLOCK, **mine
                ),
            )
        )
    ownership = _read(
        lambda: s3.get_bucket_ownership_controls(**mine),
        "OwnershipControlsNotFoundError",
        "OwnershipControls",
    )
    if [r.get("ObjectOwnership") for r in (ownership or {}).get("Rules", [])] != [OWNERSHIP]:
        found.append(
            (
                f"bucket {bucket} does not turn ACLs off (object ownership {OWNERSHIP})",
                lambda: s3.put_bucket_ownership_controls(
                    OwnershipControls={"Rules": [{"ObjectOwnership": OWNERSHIP}]}, **mine
                ),
            )
        )
    policy = _read(lambda: s3.get_bucket_policy(**mine), "NoSuchBucketPolicy", "Policy")
    if policy is None or json.loads(policy) != setup["policy"]:
        found.append(
            (
                f"bucket {bucket}'s policy is not exactly: deny every request without TLS",
                lambda: s3.put_bucket_policy(Policy=json.dumps(setup["policy"]), **mine),
            )
        )
    return found


def _cors_key(rules: list[dict]) -> list:
    fields = ("AllowedMethods", "AllowedOrigins", "AllowedHeaders", "ExposeHeaders")
    return sorted(
        tuple(tuple(sorted(r.get(f, []))) for f in fields) + (r.get("MaxAgeSeconds"),)
        for r in rules
    )


def _put_cors(s3, mine: dict, rules: list[dict]) -> None:
    if rules:
        s3.put_bucket_cors(CORSConfiguration={"CORSRules": rules}, **mine)
    else:
        s3.delete_bucket_cors(**mine)


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
