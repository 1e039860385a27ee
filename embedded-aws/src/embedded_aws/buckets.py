"""What moto holds of a bucket that S3 acts on and moto does not: the bucket's region, its
Block Public Access settings, whether ACLs are off, and its CORS rules for a refusal.

Read from moto's own records, in this process. A bucket moto does not have gets S3's answers
from moto itself (NoSuchBucket), so here it is "no such settings".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BucketRules:
    """The settings of a bucket that decide which ACLs an upload may carry."""

    region: str | None = None
    blocks_public_acls: bool = False
    acls_disabled: bool = False


def moto_bucket_rules(bucket: str) -> BucketRules:
    """Return `bucket`'s rules as moto holds them (all off for a bucket it does not have)."""
    found = _moto_bucket(bucket)
    if found is None:
        return BucketRules()
    block = found.public_access_block
    ownership = found.ownership_rule
    if isinstance(ownership, dict):  # moto has held it both as a string and as its rule
        ownership = ownership.get("ObjectOwnership")
    return BucketRules(
        region=found.region_name,
        blocks_public_acls=bool(block) and str(block.block_public_acls).lower() == "true",
        acls_disabled=ownership == "BucketOwnerEnforced",
    )


def _moto_bucket(bucket: str):
    from moto.s3.models import s3_backends

    if not bucket or bucket not in s3_backends.bucket_accounts:
        return None
    _, account = s3_backends.bucket_accounts[bucket]
    return s3_backends[account]["global"].buckets.get(bucket)


def cors_headers(bucket: str, origin: str | None) -> dict[str, str]:
    """Return the CORS headers `bucket`'s rules give `origin`, as S3 adds them to refusals."""
    found = _moto_bucket(bucket) if origin else None
    if found is None:  # S3 sends no CORS headers for a bucket it does not have
        return {}
    from moto.s3.utils import cors_matches_origin

    for rule in found.cors:
        if rule.allowed_origins and cors_matches_origin(origin, rule.allowed_origins):
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}
