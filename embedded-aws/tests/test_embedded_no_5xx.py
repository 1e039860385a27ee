"""No 5xx, from the gate or from moto behind it, for malformed requests: over HTTP to the
embedded AWS's own server, each gets the 4xx S3 gives (moto alone answers several with 500:
a form without a key, an unknown ACL, a POST with ?delete or ?uploads, a POST to an object).

The answers: AWS S3 API Reference (PostObject, DeleteObjects, ErrorResponses), and S3's
recorded answers named in the conformance tests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from s3_conformance import Signer

BUCKET = "malformed"
FILE = {"file": ("a.txt", b"bytes", "text/plain")}


@pytest.fixture
def aws(embedded_aws):
    s3 = embedded_aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket="blocked")
    s3.put_public_access_block(
        Bucket="blocked",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return embedded_aws


def form(conditions: list, fields: dict, expiration="in an hour") -> dict:
    """A form signed with the embedded AWS's credentials, now, for any policy."""
    now = datetime.now(UTC)
    signer = Signer()
    if expiration == "in an hour":
        expiration = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    policy = {"expiration": expiration, "conditions": conditions + signer.conditions(now)}
    return {**fields, **dict(signer.form(json.dumps(policy), now))}


def answer(response: requests.Response) -> tuple[int, str | None]:
    text = response.text
    code = text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else None
    return response.status_code, code


def covered(**fields: str) -> list:
    return [{name: value} for name, value in fields.items()]


FORMS = {
    "expiration null": (
        [{"bucket": BUCKET}, {"key": "k"}],
        {"key": "k"},
        None,
        (400, "InvalidPolicyDocument"),
    ),
    "content-length-range not numbers": (
        [{"bucket": BUCKET}, {"key": "k"}, ["content-length-range", "one", "ten"]],
        {"key": "k"},
        "in an hour",
        (403, "AccessDenied"),
    ),
    "no key field": ([{"bucket": BUCKET}], {}, "in an hour", (400, "InvalidArgument")),
    "an unknown acl": (
        [{"bucket": BUCKET}, *covered(key="k", acl="bogus")],
        {"key": "k", "acl": "bogus"},
        "in an hour",
        (400, "InvalidArgument"),
    ),
    "an unknown storage class": (
        [{"bucket": BUCKET}, *covered(key="k", **{"x-amz-storage-class": "COLD"})],
        {"key": "k", "x-amz-storage-class": "COLD"},
        "in an hour",
        (400, "InvalidStorageClass"),
    ),
    "tagging that is no XML": (
        [{"bucket": BUCKET}, *covered(key="k", tagging="<Tagging>")],
        {"key": "k", "tagging": "<Tagging>"},
        "in an hour",
        (400, "MalformedXML"),
    ),
    "a Content-MD5 of other bytes": (
        [{"bucket": BUCKET}, *covered(key="k", **{"Content-MD5": "CY9rzUYh03PK3k6DJie09g=="})],
        {"key": "k", "Content-MD5": "CY9rzUYh03PK3k6DJie09g=="},
        "in an hour",
        (400, "BadDigest"),
    ),
    "a success_action_status S3 does not know": (
        [{"bucket": BUCKET}, *covered(key="k", success_action_status="404")],
        {"key": "k", "success_action_status": "404"},
        "in an hour",
        (204, None),
    ),
    "a redirect that is no URL": (
        [{"bucket": BUCKET}, *covered(key="k", success_action_redirect="/relative")],
        {"key": "k", "success_action_redirect": "/relative"},
        "in an hour",
        (204, None),
    ),
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_a_malformed_form_gets_s3s_4xx(aws, name):
    conditions, fields, expiration, expected = FORMS[name]
    sent = requests.post(
        f"{aws.endpoint_url}/{BUCKET}",
        data=form(conditions, fields, expiration),
        files=FILE,
        allow_redirects=False,
        timeout=30,
    )
    assert answer(sent) == expected


def test_a_public_acl_under_block_public_access_is_denied(aws):
    fields = {"key": "k", "acl": "public-read"}
    conditions = [{"bucket": "blocked"}, *covered(**fields)]
    sent = requests.post(
        f"{aws.endpoint_url}/blocked", data=form(conditions, fields), files=FILE, timeout=30
    )
    assert answer(sent) == (403, "AccessDenied")
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket="blocked")


@pytest.mark.parametrize("target", ["?delete", "?uploads", "/k", "/k?uploads"])
def test_a_browser_form_to_anything_but_the_bucket_is_anonymous(aws, target):
    """PostObject is a POST to the bucket: with a subresource, or to an object, the form's
    policy signs nothing, and the request is anonymous on a private bucket."""
    fields = {"key": "k"}
    sent = requests.post(
        f"{aws.endpoint_url}/{BUCKET}{target}",
        data=form([{"bucket": BUCKET}, *covered(**fields)], fields),
        files=FILE,
        timeout=30,
    )
    assert answer(sent) == (403, "AccessDenied")


def signed_post(endpoint: str, path: str, body: bytes, content_type: str) -> requests.Response:
    request = AWSRequest(
        method="POST", url=endpoint + path, data=body, headers={"Content-Type": content_type}
    )
    S3SigV4Auth(Credentials("testing", "testing"), "s3", "us-east-1").add_auth(request)
    return requests.post(
        endpoint + path, data=body, headers=dict(request.headers.items()), timeout=30
    )


@pytest.mark.parametrize(
    "path,body,content_type,expected",
    [
        # DeleteObjects takes a <Delete> document naming at least one object.
        (f"/{BUCKET}?delete", b"garbage", "application/xml", (400, "MalformedXML")),
        (f"/{BUCKET}?delete", b"<Delete></Delete>", "application/xml", (400, "MalformedXML")),
        # S3 has no POST on a bucket with ?uploads, nor on an object without a subresource.
        (f"/{BUCKET}?uploads", b"", "application/xml", (405, "MethodNotAllowed")),
        (f"/{BUCKET}/k", b"data", "text/plain", (405, "MethodNotAllowed")),
        # LocalStack's recording of test_post_object_with_wrong_content_type.
        (f"/{BUCKET}", b"data", "text/plain", (412, "PreconditionFailed")),
    ],
)
def test_a_signed_post_s3_cannot_serve_gets_its_4xx(aws, path, body, content_type, expected):
    sent = signed_post(aws.endpoint_url, path, body, content_type)
    assert answer(sent) == expected


def test_a_signed_delete_of_named_objects_is_served(aws):
    s3 = aws.client("s3")
    s3.put_object(Bucket=BUCKET, Key="gone", Body=b"x")
    deleted = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "gone"}]})
    assert [d["Key"] for d in deleted["Deleted"]] == ["gone"]
