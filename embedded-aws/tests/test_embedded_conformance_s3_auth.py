"""S3's rules for signed requests and presigned links, against the gate: each case is a
request botocore signs as SDKs do, changed as the case says, and S3's recorded answer.

Sources: AWS S3 API Reference, sig-v4-header-based-auth ("the x-amz-content-sha256 header is
required for all AWS Signature Version 4 requests") and sigv4-query-string-auth (X-Amz-Expires
"the maximum is 604800 (seven days)"); LocalStack's tests recorded against S3
(localstack/localstack 8b9a79f05846835cf4dff63ab7eefdde9df83783, tests/aws/services/s3/
test_s3.py, snapshot of 2026-02-21); and S3's answers quoted in public issue threads, named
beside each case. Each case is written anew here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from s3_conformance import BUCKET, ENDPOINT

pytest_plugins = ("s3_conformance_fixtures",)

LOCALSTACK = "localstack/localstack tests/aws/services/s3/test_s3.py::"
KEY = "a.txt"
TESTING = Credentials("testing", "testing")


@pytest.fixture
def stored(s3, clock):
    """A bucket holding one object, and the gate's clock at the real time (botocore signs
    with it)."""
    clock.now = datetime.now(UTC)
    s3.bucket(BUCKET)
    s3.s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"hello")
    return s3


def presign(method="get_object", region="us-east-1", expires=300, **params) -> str:
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    return client.generate_presigned_url(
        method, Params={"Bucket": BUCKET, "Key": KEY, **params}, ExpiresIn=expires
    )


def path_of(url: str) -> str:
    return url[len(ENDPOINT) :]


class WithoutHost(S3SigV4Auth):
    """A signer that leaves `host` out of the signed headers."""

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        del headers["host"]
        return headers


def signed(method="GET", path=f"/{BUCKET}/{KEY}", body=b"", headers=None, signer=None):
    """Return the headers of a request signed as botocore signs S3 requests (or with
    `signer`, another of botocore's signers)."""
    request = AWSRequest(method=method, url=ENDPOINT + path, data=body, headers=headers or {})
    (signer or S3SigV4Auth(TESTING, "s3", "us-east-1")).add_auth(request)
    return dict(request.headers.items())


def test_a_presigned_link_is_served(stored):
    verdict = stored.send("GET", path_of(presign()))
    assert verdict.status == 200


@pytest.mark.parametrize(
    "source,url,headers,status,code",
    [
        (
            "sigv4-query-string-auth; aws/aws-cli#5464 (S3's answer past seven days)",
            lambda: presign(expires=604801),
            {},
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            LOCALSTACK + "TestS3PresignedUrl::test_s3_put_presigned_url_missing_sig_param[s3v4]",
            lambda: presign().split("&X-Amz-Signature=")[0],
            {},
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            LOCALSTACK + "TestS3PresignedUrl::test_presigned_double_encoded_credentials",
            lambda: presign().replace("%2F", "%252F"),
            {},
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            "sigv4-query-string-auth (the credential scope's region is the bucket's); "
            "JuliaServices/CloudStore.jl#52 (S3's answer to another region)",
            lambda: presign(region="eu-west-1"),
            {},
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            "sigv4-query-string-auth (the scope's service is s3)",
            lambda: presign().replace("%2Fs3%2F", "%2Fec2%2F"),
            {},
            400,
            "AuthorizationQueryParametersError",
        ),
        (
            LOCALSTACK + "TestS3PresignedUrl::test_presigned_url_signature_authentication[s3v4]",
            lambda: presign()[:-1] + ("0" if presign()[-1] != "0" else "1"),
            {},
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "brendanhay/amazonka#272 (S3's answer to a link that signs no host)",
            lambda: presign().replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders="),
            {},
            403,
            "AccessDenied",
        ),
        (
            LOCALSTACK + "TestS3PresignedUrl::test_put_url_metadata_with_sig_s3v4",
            lambda: presign("put_object"),
            {"x-amz-meta-wrong": "wrong"},
            403,
            "AccessDenied",
        ),
        (
            LOCALSTACK
            + "TestS3PresignedUrl::test_put_object_with_md5_and_chunk_signature_bad_headers",
            lambda: presign("put_object"),
            {"X-Amz-Date": "20211122T191045Z", "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"},
            403,
            "AccessDenied",
        ),
        (
            LOCALSTACK + "TestS3PresignedUrl::test_s3_put_presigned_url_with_different_headers",
            lambda: presign("put_object", ContentType="text/plain"),
            {"Content-Type": "application/json"},
            403,
            "SignatureDoesNotMatch",
        ),
    ],
)
def test_a_presigned_link_is_held_to_s3s_rules(stored, source, url, headers, status, code):
    method = "PUT" if "x-id=PutObject" in url() or headers else "GET"
    verdict = stored.send(method, path_of(url()), headers=headers, body=b"hi" * (method == "PUT"))
    assert (verdict.status, verdict.code) == (status, code), source


def test_a_link_of_seven_days_is_served(stored):
    assert stored.send("GET", path_of(presign(expires=604800))).status == 200


def test_the_refusals_name_what_s3_names(stored, clock):
    expired = path_of(presign(expires=60))
    clock.now += timedelta(seconds=61)
    verdict = stored.send("GET", expired)
    # LocalStack's recording of test_s3_presigned_url_expired[s3v4].
    assert verdict.elements["Message"] == "Request has expired"
    assert verdict.elements["X-Amz-Expires"] == "60"
    clock.now -= timedelta(seconds=61)
    region = stored.send("GET", path_of(presign(region="eu-west-1")))
    assert region.elements["Region"] == "us-east-1"
    unsigned = stored.send("PUT", path_of(presign("put_object")), {"x-amz-meta-wrong": "w"}, b"x")
    assert unsigned.elements["HeadersNotSigned"] == "x-amz-meta-wrong"
    week = stored.send("GET", path_of(presign(expires=604801)))
    assert week.elements["Message"] == (
        "X-Amz-Expires must be less than a week (in seconds); that is, the given "
        "X-Amz-Expires must be less than 604800 seconds"
    )


def test_a_signed_request_is_served(stored):
    assert stored.send("GET", f"/{BUCKET}/{KEY}", signed()).status == 200


@pytest.mark.parametrize(
    "source,headers,status,code",
    [
        (
            "sig-v4-header-based-auth; LocalStack's recording of SignatureDoesNotMatch",
            lambda: signed(signer=S3SigV4Auth(Credentials("testing", "other"), "s3", "us-east-1")),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            LOCALSTACK + "TestS3::test_create_bucket_aws_global (another region in the scope)",
            lambda: signed(signer=S3SigV4Auth(TESTING, "s3", "eu-west-1")),
            400,
            "AuthorizationHeaderMalformed",
        ),
        (
            "sig-v4-header-based-auth; avi-wish/aws4-signature-php#1 (S3's answer without it)",
            lambda: signed(signer=SigV4Auth(TESTING, "s3", "us-east-1")),
            400,
            "InvalidRequest",
        ),
        (
            "lucacasonato/deno_s3#47 (S3's answer when it is sent but not signed)",
            lambda: {
                **signed(signer=SigV4Auth(TESTING, "s3", "us-east-1")),
                "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
            },
            400,
            "InvalidRequest",
        ),
        (
            "coda/packs-sdk#3093 (S3's answer to a request that signs no host)",
            lambda: signed(signer=WithoutHost(TESTING, "s3", "us-east-1")),
            403,
            "AccessDenied",
        ),
        (
            "sig-v4-header-based-auth ('x-amz-* headers that you plan to add ... must be "
            "signed'); LocalStack's recording of HeadersNotSigned",
            lambda: {**signed(), "x-amz-meta-wrong": "wrong"},
            403,
            "AccessDenied",
        ),
    ],
)
def test_a_signed_request_is_held_to_s3s_rules(stored, source, headers, status, code):
    verdict = stored.send("GET", f"/{BUCKET}/{KEY}", headers())
    assert (verdict.status, verdict.code) == (status, code), source


def test_a_body_other_than_the_one_signed_is_refused(stored):
    """ErrorResponses, XAmzContentSHA256Mismatch: the body's hash is not the one signed."""
    headers = signed("PUT", body=b"the body signed")
    verdict = stored.send("PUT", f"/{BUCKET}/{KEY}", headers, b"another body")
    assert (verdict.status, verdict.code) == (400, "XAmzContentSHA256Mismatch")
    assert stored.s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"hello"
