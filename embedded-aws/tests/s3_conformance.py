"""The conformance tests' means: the gate in front of moto's S3, in this process, on a clock
the test sets; a signer of upload forms; the verdict a request got.

Their fixtures are in s3_conformance_fixtures.py.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# AWS's example credentials, used by its POST example (sigv4-post-example).
EXAMPLE_KEY = "AKIAIOSFODNN7EXAMPLE"
EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ENDPOINT = "http://127.0.0.1:5100"


@dataclass
class Clock:
    """The gate's clock, which a test moves."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Verdict:
    """What the gate (or moto behind it) answered: status, S3's error code, its elements."""

    status: int
    code: str | None
    elements: dict[str, str]
    headers: dict[str, str]

    @classmethod
    def of(cls, response) -> Verdict:
        text = response.get_data(as_text=True)
        elements = dict(re.findall(r"<(\w[\w-]*)>([^<]*)</\1>", text))
        return cls(response.status_code, elements.get("Code"), elements, dict(response.headers))


class GatedS3:
    """moto's S3 behind the gate, as the test's browser and SDK reach it (no network)."""

    def __init__(self, clock: Clock):
        import boto3
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.test import Client

        from embedded_aws import CREDENTIALS
        from embedded_aws.bucket_owner import BucketOwnerCheck
        from embedded_aws.gate import S3Gate

        credentials = {**CREDENTIALS, EXAMPLE_KEY: EXAMPLE_SECRET}
        moto = BucketOwnerCheck(DomainDispatcherApplication(create_backend_app))
        self.app = S3Gate(moto, credentials, clock)
        self.http = Client(self.app)
        self.clock = clock
        # For setting buckets up: moto's mock, which shares the gate's moto state.
        self.s3 = boto3.client("s3", region_name="us-east-1")

    def bucket(self, name: str = "uploads", *, block_public_acls=False, acls_off=False) -> str:
        """Create a bucket with the given Block Public Access and Object Ownership settings."""
        self.s3.create_bucket(Bucket=name)
        if block_public_acls:
            self.s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
        if acls_off:
            self.s3.put_bucket_ownership_controls(
                Bucket=name,
                OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            )
        return name

    def post(self, bucket, fields, file=("photo.jpg", b"bytes", "image/jpeg"), **options):
        """POST a form: `fields` in order, then the file, then `after` (S3 ignores them)."""
        from urllib3 import encode_multipart_formdata

        parts = list(fields) + ([("file", file)] if file is not None else [])
        body, content_type = encode_multipart_formdata(parts + list(options.pop("after", [])))
        content_type = options.pop("content_type", content_type)
        response = self.http.post(
            f"/{bucket}", data=body, content_type=content_type, base_url=ENDPOINT, **options
        )
        return Verdict.of(response)

    def send(self, method: str, path: str, headers=None, body: bytes = b"") -> Verdict:
        """Send a request as it stands (path and query already encoded)."""
        response = self.http.open(
            path, method=method, headers=headers or {}, data=body, base_url=ENDPOINT
        )
        return Verdict.of(response)

    def stored(self, bucket: str, key: str) -> dict:
        return self.s3.head_object(Bucket=bucket, Key=key)

    def keys(self, bucket: str) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


@dataclass
class Signer:
    """Signs a POST policy as AWS's SigV4 pages say: the base64 of the JSON is the string
    to sign, under the key of the credential's day, region and `s3`."""

    access_key: str = "testing"
    secret: str = "testing"
    region: str = "us-east-1"
    service: str = "s3"

    def form(self, policy, at: datetime, names: dict | None = None) -> list[tuple[str, str]]:
        """Return the signature fields and the signed policy (a dict, or its JSON text)."""
        from embedded_aws.sigv4 import sign

        date = at.strftime("%Y%m%d")
        text = policy if isinstance(policy, str) else json.dumps(policy)
        encoded = base64.b64encode(text.encode()).decode()
        credential = f"{self.access_key}/{date}/{self.region}/{self.service}/aws4_request"
        fields = {
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": credential,
            "x-amz-date": at.strftime("%Y%m%dT%H%M%SZ"),
            "policy": encoded,
            "x-amz-signature": sign(self.secret, date, self.region, self.service, encoded),
        }
        return [((names or {}).get(name, name), value) for name, value in fields.items()]

    def conditions(self, at: datetime) -> list:
        """The conditions a SigV4 form needs on its own fields (as botocore adds them)."""
        date = at.strftime("%Y%m%d")
        return [
            {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
            {"x-amz-credential": f"{self.access_key}/{date}/{self.region}/s3/aws4_request"},
            {"x-amz-date": at.strftime("%Y%m%dT%H%M%SZ")},
        ]


def expiring(clock: Clock, seconds: int = 3600) -> str:
    """An expiration `seconds` from the clock, as botocore writes it."""
    return (clock.now + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


BUCKET = "uploads"
FILE = ("photo.jpg", b"bytes", "image/jpeg")


@dataclass(frozen=True)
class Upload:
    """A browser upload as a case gives it, and the answer S3 gave (or its pages give).

    The form is the case's `fields`, then the signature fields, then the file, then `after`.
    The policy is `document` when the case is about the document itself; otherwise it
    expires at `expiration` (in an hour by default) and holds the case's `conditions` and
    the three a SigV4 form needs.
    `edit` is what the case does to the signed form (drop, change or rename a field);
    `content_type` replaces the request's own.
    """

    source: str
    conditions: list = field(default_factory=list)
    fields: list = field(default_factory=list)
    status: int = 204
    code: str | None = None
    file: tuple | None = FILE
    document: dict | str | None = None
    edit: object = None
    after: list = field(default_factory=list)
    expires_in: int = 3600
    expiration: str | None = None
    content_type: str | None = None

    def send(self, s3: GatedS3, signer: Signer, bucket: str = BUCKET) -> Verdict:
        at = s3.clock.now
        document = self.document or {
            "expiration": self.expiration or expiring(s3.clock, self.expires_in),
            "conditions": [*self.conditions, *signer.conditions(at)],
        }
        form = [*self.fields, *signer.form(document, at)]
        if self.edit is not None:
            form = self.edit(form)
        options = {"content_type": self.content_type} if self.content_type else {}
        return s3.post(bucket, form, self.file, after=self.after, **options)


def without(*names: str):
    """An edit: leave the named fields out of the form."""
    return lambda form: [(n, v) for n, v in form if n not in names]


def changed(name: str, change):
    """An edit: pass the named field's value through `change`."""
    return lambda form: [(n, change(v) if n == name else v) for n, v in form]


def renamed(names: dict):
    """An edit: send fields under other names (another case, say)."""
    return lambda form: [(names.get(n, n), v) for n, v in form]


def assert_answered_as_s3(case: Upload, s3: GatedS3, signer: Signer, bucket=BUCKET) -> None:
    """Send `case` to a fresh bucket: S3's status and code, and stored only if accepted."""
    s3.bucket(BUCKET)
    verdict = case.send(s3, signer, bucket=bucket)
    assert (verdict.status, verdict.code) == (case.status, case.code), case.source
    assert len(s3.keys(BUCKET)) == (0 if case.status >= 400 else 1)
