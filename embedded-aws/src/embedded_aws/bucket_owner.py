"""S3's check of ExpectedBucketOwner, which moto ignores.

Amazon S3 User Guide, "Verifying bucket ownership with bucket owner condition": a request
that names the account it expects to own the bucket (the `x-amz-expected-bucket-owner`
header, boto3's `ExpectedBucketOwner`) fails with "403 Forbidden" (AccessDenied) when
another account owns it. moto answers such a request as if the header were absent, so a
caller that relies on it would pass every test and still act on a stranger's bucket.

`BucketOwnerCheck` sits behind the gate, in front of moto: it reads the bucket's owner from
moto's own records and refuses the request as S3 does. The bucket is the path's first part:
every client here addresses S3 by path (a loopback endpoint has no bucket subdomains).
"""

from __future__ import annotations

from .sigv4 import S3Refusal

HEADER = "HTTP_X_AMZ_EXPECTED_BUCKET_OWNER"


class BucketOwnerCheck:
    """WSGI middleware: refuse an S3 request whose expected bucket owner is not the owner."""

    def __init__(self, app, owner_of=None):
        self.app = app
        self.owner_of = owner_of or moto_bucket_owner

    def __call__(self, environ, start_response):
        expected = environ.get(HEADER)
        if expected is not None:
            bucket = environ.get("PATH_INFO", "").lstrip("/").split("/")[0]
            owner = self.owner_of(bucket) if bucket else None
            # No such bucket: S3's own answer (NoSuchBucket) comes from moto.
            if owner is not None and owner != expected:
                return S3Refusal(403, "AccessDenied", "Access Denied").response()(
                    environ, start_response
                )
        return self.app(environ, start_response)


def moto_bucket_owner(bucket: str) -> str | None:
    """Return the account moto holds `bucket` in, or None if it has no such bucket."""
    from moto.s3.models import s3_backends

    found = s3_backends.bucket_accounts.get(bucket)
    return found[1] if found else None
