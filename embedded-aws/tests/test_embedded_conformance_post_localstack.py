"""LocalStack's presigned-POST cases, whose answers LocalStack recorded against S3, against
the gate: the same forms get S3's status and error code, and nothing gets a 5xx.

Source: localstack/localstack (Apache-2.0) at 8b9a79f05846835cf4dff63ab7eefdde9df83783,
tests/aws/services/s3/test_s3.py, class TestS3PresignedPost, each test marked
`@markers.aws.validated`; the answers are those of tests/aws/services/s3/test_s3.snapshot.json
(recorded against S3 on 2026-02-21) or the test's own assertions. Each case names its test.
The forms are those botocore's `generate_presigned_post` makes, as in LocalStack's tests
(SigV4 cases only: the gate refuses SigV2 forms, a known gap); they are written anew here
as fields, conditions and the recorded answer. The file is LocalStack's "abcdef" unless a
case says otherwise.
"""

from __future__ import annotations

import pytest
from s3_conformance import BUCKET, Upload, assert_answered_as_s3, changed, renamed, without

pytest_plugins = ("s3_conformance_fixtures",)

SOURCE = "localstack/localstack tests/aws/services/s3/test_s3.py::TestS3PresignedPost::"
KEY = "test-presigned-post-key"
FILE = ("file", b"abcdef", "application/octet-stream")
REDIRECT = "http://localhost.test/random"
EXPIRES = "Wed, 04 Mar 2026 12:10:00 GMT"
UNICODE = {
    "Content-Disposition": 'filename="test_\u2014_file%E2%80%94_\u00e9_2-.pdf"',
    "Cache-Control": "non-ascii-%E2%80%94_\u2014_\u00e9_",
    "x-amz-meta-nonascii": "\u00c4M\u00c4Z\u00d5\u00d1 S3",
    "x-amz-meta-nonascii-2": "test_\u2014_file%E2%80%94_\u00e9_2\U0001f451.pdf",
    "x-amz-meta-safe-chars": "! \"#$%&'()*+,-./0123456789:;<>'?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\t",
    "x-amz-meta-utf-8": "\x00\x01\x02\x03\x04",
    "x-amz-meta-q-encoded": "=?UTF-8?Q?actually-ascii?=",
    "x-amz-meta-b-encoded": "=?UTF-8?B?YWJj?=",
    "success_action_status": "201",
}
TAGS = "<Tagging><TagSet><Tag><Key>TagName</Key><Value>TagValue</Value></Tag>"


def generated(test: str, key=KEY, fields=None, conditions=None, **case) -> Upload:
    """A case whose form botocore's generate_presigned_post made: the given fields and
    conditions, then the bucket's and the key's condition, as botocore adds them."""
    fields = dict(fields or {})
    if key.endswith("${filename}"):
        key_condition = ["starts-with", "$key", key.removesuffix("${filename}")]
    else:
        key_condition = {"key": key}
    return Upload(
        source=SOURCE + test,
        conditions=[*(conditions or []), {"bucket": BUCKET}, key_condition],
        fields=[*fields.items(), ("key", key)],
        **{"file": FILE, **case},
    )


def eq_each(fields: dict) -> list:
    return [["eq", f"${name}", value] for name, value in fields.items()]


CASES = {
    "files": generated(
        "test_post_object_with_files", file=("file", b"0" * 70_000, "application/octet-stream")
    ),
    "expired": generated(
        "test_post_request_expires", expires_in=-1, status=403, code="AccessDenied"
    ),
    "policy-cut-short": generated(
        "test_post_request_malformed_policy[s3v4]",
        edit=changed("policy", lambda policy: policy[:-2]),
        status=403,
        code="SignatureDoesNotMatch",
    ),
    "no-signature": generated(
        "test_post_request_missing_signature[s3v4]",
        edit=without("x-amz-signature"),
        status=400,
        code="InvalidArgument",
    ),
    "no-algorithm-nor-credential": generated(
        "test_post_request_missing_fields[s3v4]",
        edit=without("x-amz-algorithm", "x-amz-credential"),
        status=400,
        code="InvalidArgument",
    ),
    "only-key-and-policy": generated(
        "test_post_request_missing_fields[s3v4]",
        edit=without("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"),
        status=403,
        code="AccessDenied",
    ),
    "status-201": generated(
        "test_s3_presigned_post_success_action_status_201_response",
        key="key-${filename}",
        fields={"success_action_status": "201"},
        conditions=[{"bucket": BUCKET}, ["eq", "$success_action_status", "201"]],
        file=("my-file", b"something body", "application/octet-stream"),
        status=201,
    ),
    "redirect": generated(
        "test_s3_presigned_post_success_action_redirect",
        key="key-test",
        fields={"success_action_redirect": REDIRECT},
        conditions=[{"bucket": BUCKET}, ["eq", "$success_action_redirect", REDIRECT]],
        status=303,
    ),
    "redirect-not-a-url": generated(
        "test_s3_presigned_post_success_action_redirect",
        key="key-test",
        fields={"success_action_redirect": "/wrong/redirect/relative"},
        conditions=[
            {"bucket": BUCKET},
            ["eq", "$success_action_redirect", "/wrong/redirect/relative"],
        ],
    ),
    **{
        f"tagging-{name}": generated(
            f"test_post_object_with_tags[{name}]",
            fields={"tagging": tagging},
            conditions=[{"bucket": BUCKET}, ["eq", "$tagging", tagging]],
            status=400 if name == "notxml" else 204,
            code="MalformedXML" if name == "notxml" else None,
        )
        for name, tagging in {
            "single": TAGS + "</TagSet></Tagging>",
            "list": TAGS
            + "<Tag><Key>TagName2</Key><Value>TagValue2</Value></Tag></TagSet></Tagging>",
            "invalid": "<InvalidXmlTagging></InvalidXmlTagging>",
            "notxml": "not-xml",
        }.items()
    },
    "metadata": generated(
        "test_post_object_with_metadata",
        fields=(
            metadata := {
                "x-amz-meta-test-1": "test-meta-1",
                "x-amz-meta-TEST-2": "test-meta-2",
                "Content-Type": "text/plain",
                "Expires": EXPIRES,
            }
        ),
        conditions=[{"bucket": BUCKET}, *eq_each(metadata)],
    ),
    "unicode-metadata": generated(
        "test_post_object_with_unicode_metadata",
        key="test_unicode\u2014_file.pdf",
        fields=UNICODE,
        conditions=[{"bucket": BUCKET}, *eq_each(UNICODE)],
        status=201,
    ),
    "storage-class": generated(
        "test_post_object_with_storage_class",
        fields={"x-amz-storage-class": "STANDARD_IA"},
        conditions=[{"bucket": BUCKET}, ["eq", "$x-amz-storage-class", "STANDARD_IA"]],
    ),
    "storage-class-unknown": generated(
        "test_post_object_with_storage_class",
        fields={"x-amz-storage-class": "FakeClass"},
        conditions=[{"bucket": BUCKET}, ["eq", "$x-amz-storage-class", "FakeClass"]],
        status=400,
        code="InvalidStorageClass",
    ),
    "not-multipart": generated(
        "test_post_object_with_wrong_content_type",
        content_type="text/html",
        status=412,
        code="PreconditionFailed",
    ),
    "default-checksum": generated("test_post_object_default_checksum"),
    "file-without-filename": generated(
        "test_post_object_with_file_as_string",
        key="test-presigned-post-file-as-field",
        file=(None, b"test-body-file-as-field"),
    ),
    "file-without-filename-in-key": generated(
        "test_post_object_with_file_as_string",
        key="file-as-field-${filename}",
        file=(None, b"test-body-file-as-field-filename-replacement"),
    ),
    "eq-wrong-value": generated(
        "test_post_object_policy_conditions_validation_eq",
        fields={"success_action_redirect": "http://wrong.location/test"},
        conditions=[["eq", "$success_action_redirect", REDIRECT]],
        status=403,
        code="AccessDenied",
    ),
    "eq-without-dollar": generated(
        "test_post_object_policy_conditions_validation_eq",
        fields={"success_action_redirect": REDIRECT},
        conditions=[["eq", "success_action_redirect", REDIRECT]],
        status=403,
        code="AccessDenied",
    ),
    "simple-condition-of-two": generated(
        "test_post_object_policy_conditions_validation_eq",
        fields={"success_action_redirect": REDIRECT},
        conditions=[{"bucket": BUCKET, "success_action_redirect": REDIRECT}],
        status=400,
        code="InvalidPolicyDocument",
    ),
    "eq-other-case-value": generated(
        "test_post_object_policy_conditions_validation_eq",
        fields={"success_action_redirect": REDIRECT},
        conditions=[["eq", "$success_action_redirect", REDIRECT.replace("http:", "HTTP:")]],
        status=403,
        code="AccessDenied",
    ),
    "eq-names-in-any-case": generated(
        "test_post_object_policy_conditions_validation_eq",
        fields=metadata,
        conditions=[
            {"bucket": BUCKET},
            ["eq", "$x-amz-meta-test-1", "test-meta-1"],
            ["eq", "$x-amz-meta-test-2", "test-meta-2"],
            ["eq", "$content-type", "text/plain"],
            ["eq", "$Expires", EXPIRES],
        ],
    ),
    "simple-names-in-any-case": generated(
        "test_post_object_policy_conditions_validation_eq",
        fields=metadata,
        conditions=[
            {"bucket": BUCKET},
            {"x-amz-meta-test-1": "test-meta-1"},
            {"x-amz-meta-test-2": "test-meta-2"},
            {"Content-Type": "text/plain"},
            {"Expires": EXPIRES},
        ],
    ),
    "eq-mixed-case-name": generated(
        "test_post_object_policy_conditions_validation_eq",
        fields={"success_action_redirect": REDIRECT},
        conditions=[["eq", "$success_Action_REDIRECT", REDIRECT]],
        status=303,
    ),
    **{
        f"starts-with-{name}": generated(
            "test_post_object_policy_conditions_validation_starts_with",
            key="validate-policy-2",
            fields={"success_action_redirect": redirect},
            conditions=[["starts-with", "$success_action_redirect", prefix]],
            status=status,
            code="AccessDenied" if status == 403 else None,
        )
        for name, redirect, prefix, status in [
            ("wrong", "http://wrong.location/test", "http://localhost", 403),
            ("other-case", "HTTP://localhost.test/random", "http://localhost", 403),
            ("right", REDIRECT, "http://localhost", 303),
            ("anything", "http://wrong.location/test", "", 303),
        ]
    },
    **{
        f"size-{name}": generated(
            "test_post_object_policy_validation_size",
            key="validate-policy-content-length",
            conditions=[{"bucket": BUCKET}, ["content-length-range", *bounds]],
            file=("file", b"a" * size, "application/octet-stream"),
            status=status,
            code=code,
        )
        for name, bounds, size, status, code in [
            ("too-big", (5, 10), 12, 400, "EntityTooLarge"),
            ("too-small", (5, 10), 1, 400, "EntityTooSmall"),
            ("lowest", (5, 10), 5, 204, None),
            ("highest", (5, 10), 10, 204, None),
            ("bounds-as-strings", ("5", "10"), 10, 204, None),
            ("bound-no-number", ("test", "10"), 10, 403, "AccessDenied"),
        ]
    },
    "session-token": generated(
        "test_presigned_post_with_different_user_credentials",
        key="validate-policy-full-credentials",
        fields={"x-amz-security-token": "a-session-token"},
        conditions=[{"x-amz-security-token": "a-session-token"}],
    ),
    "policy-named-Policy": generated(
        "test_post_object_policy_casing[s3v4]",
        key="validate-policy-casing",
        conditions=[{"bucket": BUCKET}, ["content-length-range", 5, 10]],
        edit=renamed({"policy": "Policy"}),
    ),
    "credential-named-X-Amz-Credential": generated(
        "test_post_object_policy_casing[s3v4]",
        key="validate-policy-casing",
        conditions=[{"bucket": BUCKET}, ["content-length-range", 5, 10]],
        edit=renamed({"policy": "Policy", "x-amz-credential": "X-Amz-Credential"}),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_gate_answers_as_s3_answered(name, s3, signer):
    assert_answered_as_s3(CASES[name], s3, signer)


def test_the_recorded_messages_and_elements_are_s3s(s3, signer):
    """The snapshot's texts, where S3 names what failed."""
    s3.bucket(BUCKET)
    answers = {name: CASES[name].send(s3, signer) for name in CASES}
    assert answers["expired"].elements["Message"] == (
        "Invalid according to Policy: Policy expired."
    )
    assert answers["no-signature"].elements["Message"] == (
        "Bucket POST must contain a field named 'X-Amz-Signature'.  If it is specified, "
        "please check the order of the fields."
    )
    assert answers["no-algorithm-nor-credential"].elements["ArgumentName"] == "X-Amz-Algorithm"
    assert answers["eq-without-dollar"].elements["Message"] == (
        "Invalid according to Policy: Policy Condition failed: "
        '["eq", "success_action_redirect", "http://localhost.test/random"]'
    )
    assert answers["simple-condition-of-two"].elements["Message"] == (
        "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one "
        "property specified."
    )
    assert answers["size-too-big"].elements | {"ProposedSize": "12", "MaxSizeAllowed": "10"} == (
        answers["size-too-big"].elements
    )
    assert answers["size-too-small"].elements["MinSizeAllowed"] == "5"
    assert answers["size-bound-no-number"].elements["Message"] == (
        "Invalid according to Policy: Policy Condition failed: "
        '["content-length-range", "test", "10"]'
    )
    assert answers["storage-class-unknown"].elements["StorageClassRequested"] == "FakeClass"
    assert answers["not-multipart"].elements["Condition"] == (
        "Bucket POST must be of the enclosure-type multipart/form-data"
    )


def test_a_policy_cut_short_is_named_as_the_string_signed(s3, signer):
    """The snapshot's SignatureDoesNotMatch names the policy as sent and the signature."""
    s3.bucket(BUCKET)
    verdict = CASES["policy-cut-short"].send(s3, signer)
    assert verdict.elements["StringToSign"] and verdict.elements["SignatureProvided"]
    assert len(verdict.elements["SignatureProvided"]) == 64


def test_what_s3_stored_is_what_moto_stores(s3, signer):
    """The objects the recordings read back: the body, the key `${filename}` left as it is
    when the file names no filename, the metadata's names lower-cased."""
    s3.bucket(BUCKET)
    CASES["files"].send(s3, signer)
    assert s3.s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"0" * 70_000
    for name in ("file-without-filename-in-key", "metadata"):
        CASES[name].send(s3, signer)
    assert "file-as-field-${filename}" in s3.keys(BUCKET)
    assert s3.stored(BUCKET, KEY)["Metadata"] == {"test-1": "test-meta-1", "test-2": "test-meta-2"}
    assert s3.stored(BUCKET, KEY)["ContentType"] == "text/plain"


def test_a_redirect_names_the_bucket_and_the_key(s3, signer):
    s3.bucket(BUCKET)
    verdict = CASES["redirect"].send(s3, signer)
    location = verdict.headers["Location"]
    assert location.startswith(REDIRECT + "?") and f"bucket={BUCKET}" in location
    assert "key=key-test" in location
