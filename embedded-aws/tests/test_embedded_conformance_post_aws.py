"""AWS's own POST example and the rules of its POST pages, against the gate; where a page
names no answer, S3's answer as recorded in a public issue thread (named beside the case).

Sources (AWS documentation, S3 API Reference and User Guide; docs.aws.amazon.com/AmazonS3/
latest/API/<page>.html): sigv4-post-example (the example policy, form, credentials and
signature); sigv4-HTTPPOSTConstructPolicy ("POST Policy"); sigv4-HTTPPOSTForms ("Creating an
HTML Form"); RESTObjectPOST ("PostObject"); ErrorResponses. Every case is written anew here as
its inputs and S3's answer; the example's policy is AWS's, byte for byte, since its signature
is a function of those bytes (the page offers it "as test suite to verify your signature
calculation code").
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from s3_conformance import BUCKET, Upload, assert_answered_as_s3, changed, without

pytest_plugins = ("s3_conformance_fixtures",)

EXAMPLE_BUCKET = "sigv4examplebucket"
EXAMPLE_REDIRECT = "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"
# The example's policy, as the page prints it, with the CRLF line ends it asks for.
EXAMPLE_POLICY = "\r\n".join(
    [
        '{ "expiration": "2015-12-30T12:00:00.000Z",',
        '  "conditions": [',
        '    {"bucket": "sigv4examplebucket"},',
        '    ["starts-with", "$key", "user/user1/"],',
        '    {"acl": "public-read"},',
        f'    {{"success_action_redirect": "{EXAMPLE_REDIRECT}"}},',
        '    ["starts-with", "$Content-Type", "image/"],',
        '    {"x-amz-meta-uuid": "14365123651274"},',
        '    {"x-amz-server-side-encryption": "AES256"},',
        '    ["starts-with", "$x-amz-meta-tag", ""],',
        "",
        '    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},',
        '    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},',
        '    {"x-amz-date": "20151229T000000Z" }',
        "  ]",
        "}",
    ]
)
EXAMPLE_SIGNATURE = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
# The example's form, in its order (and the submit button after the file, which S3 ignores).
EXAMPLE_FORM = [
    ("key", "user/user1/${filename}"),
    ("acl", "public-read"),
    ("success_action_redirect", EXAMPLE_REDIRECT),
    ("Content-Type", "image/jpeg"),
    ("x-amz-meta-uuid", "14365123651274"),
    ("x-amz-server-side-encryption", "AES256"),
    ("X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"),
    ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
    ("X-Amz-Date", "20151229T000000Z"),
    ("x-amz-meta-tag", ""),
    ("Policy", base64.b64encode(EXAMPLE_POLICY.encode()).decode()),
    ("X-Amz-Signature", EXAMPLE_SIGNATURE),
]
BEFORE_NOON = datetime(2015, 12, 30, 11, 59, tzinfo=UTC)


@pytest.fixture
def example(s3, clock):
    """The example's bucket, and a clock before the policy expires."""
    clock.now = BEFORE_NOON
    return s3


def test_the_example_signature_is_the_one_aws_computed():
    from embedded_aws.sigv4 import sign

    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    policy = dict(EXAMPLE_FORM)["Policy"]
    assert sign(secret, "20151229", "us-east-1", "s3", policy) == EXAMPLE_SIGNATURE


def test_the_example_form_uploads_and_redirects(example):
    example.bucket(EXAMPLE_BUCKET)
    verdict = example.post(
        EXAMPLE_BUCKET,
        EXAMPLE_FORM,
        ("MyPhoto.jpg", b"jpeg", "image/jpeg"),
        after=[("submit", "Upload to Amazon S3")],
    )
    assert verdict.status == 303
    assert verdict.headers["Location"].startswith(EXAMPLE_REDIRECT + "?")
    assert example.keys(EXAMPLE_BUCKET) == ["user/user1/MyPhoto.jpg"]
    stored = example.stored(EXAMPLE_BUCKET, "user/user1/MyPhoto.jpg")
    assert stored["Metadata"] == {"uuid": "14365123651274", "tag": ""}


@pytest.mark.parametrize(
    "change,at,status,code",
    [
        # "The upload must occur before noon UTC on December 30, 2015."
        ({}, datetime(2015, 12, 30, 12, 0, 1, tzinfo=UTC), 403, "AccessDenied"),
        # "You can provide any key name that starts with user/user1."
        ({"key": "user/user2/${filename}"}, BEFORE_NOON, 403, "AccessDenied"),
        # "The ACL must be set to public-read."
        ({"acl": "private"}, BEFORE_NOON, 403, "AccessDenied"),
        # "The object must be an image file."
        ({"Content-Type": "text/html"}, BEFORE_NOON, 403, "AccessDenied"),
        # "The x-amz-meta-uuid tag must be set to 14365123651274."
        ({"x-amz-meta-uuid": "1"}, BEFORE_NOON, 403, "AccessDenied"),
        # "Your request will succeed if the signature you provide matches".
        ({"X-Amz-Signature": "0" * 64}, BEFORE_NOON, 403, "SignatureDoesNotMatch"),
    ],
)
def test_the_example_policy_holds_its_conditions(example, clock, change, at, status, code):
    example.bucket(EXAMPLE_BUCKET)
    clock.now = at
    form = [(name, change.get(name, value)) for name, value in EXAMPLE_FORM]
    verdict = example.post(EXAMPLE_BUCKET, form, ("MyPhoto.jpg", b"jpeg", "image/jpeg"))
    assert (verdict.status, verdict.code) == (status, code)
    assert example.keys(EXAMPLE_BUCKET) == []


@pytest.mark.parametrize(
    "settings,status,code",
    [
        # User Guide, "Blocking public access": BlockPublicAcls, "PUT Object calls fail if
        # the request includes a public ACL"; S3 refuses with 403 AccessDenied.
        ({"block_public_acls": True}, 403, "AccessDenied"),
        # User Guide, Object Ownership "Troubleshooting": with ACLs disabled, a request that
        # sets an ACL other than bucket-owner-full-control fails with 400.
        ({"acls_off": True}, 400, "AccessControlListNotSupported"),
    ],
)
def test_the_examples_public_acl_is_refused_where_the_bucket_forbids_it(
    example, settings, status, code
):
    example.bucket(EXAMPLE_BUCKET, **settings)
    verdict = example.post(EXAMPLE_BUCKET, EXAMPLE_FORM, ("MyPhoto.jpg", b"jpeg", "image/jpeg"))
    assert (verdict.status, verdict.code) == (status, code)
    assert example.keys(EXAMPLE_BUCKET) == []


POLICY = "AWS S3 API Reference, sigv4-HTTPPOSTConstructPolicy"
FORMS = "AWS S3 API Reference, sigv4-HTTPPOSTForms"
POST_OBJECT = "AWS S3 API Reference, RESTObjectPOST"
JPEG = ["starts-with", "$Content-Type", "image/"]


def page(source: str, conditions=(), fields=(), **case) -> Upload:
    return Upload(source, [{"bucket": BUCKET}, *conditions], list(fields), **case)


KEY = [{"key": "k"}]
CASES = {
    "content-types-all-images": page(
        POLICY + ", Matching Content-Types in a Comma-Separated List",
        [*KEY, JPEG],
        [("key", "k"), ("Content-Type", "image/jpg,image/png,image/gif")],
    ),
    "content-types-one-text": page(
        POLICY + ", Matching Content-Types in a Comma-Separated List",
        [*KEY, JPEG],
        [("key", "k"), ("Content-Type", "image/jpg,text/plain")],
        status=403,
        code="AccessDenied",
    ),
    "comma-elsewhere-is-a-character": page(
        POLICY + ", 'Data elements other than Content-Type are treated as strings'",
        [["starts-with", "$key", "a,"]],
        [("key", "a,b")],
    ),
    "matching-any-content": page(
        POLICY + ", Matching Any Content",
        [*KEY, ["starts-with", "$success_action_redirect", ""]],
        [("key", "k"), ("success_action_redirect", "https://anywhere.example/done")],
        status=303,
    ),
    "any-content-but-the-field-is-absent": page(
        'S3\'s answer in waynehoover/s3_direct_upload#29 (a starts-with "" on a field the '
        "form lacks)",
        [*KEY, ["starts-with", "$Content-Type", ""]],
        [("key", "k")],
        status=403,
        code="AccessDenied",
    ),
    "range-lowest": page(
        POLICY + ", Specifying Ranges",
        [*KEY, ["content-length-range", 1048576, 10485760]],
        [("key", "k")],
        file=("f", b"x" * 1048576, "image/jpeg"),
    ),
    "range-below": page(
        POLICY + ", Specifying Ranges",
        [*KEY, ["content-length-range", 1048576, 10485760]],
        [("key", "k")],
        file=("f", b"x" * 1048575, "image/jpeg"),
        status=400,
        code="EntityTooSmall",
    ),
    **{
        f"starts-with-on-{name}": page(
            POLICY + f", Conditions: {name} 'supports exact matching'",
            [*KEY, ["starts-with", f"${name}", ""]],
            [("key", "k"), (name, value)],
            status=400,
            code="InvalidPolicyDocument",
        )
        for name, value in [
            ("bucket", BUCKET),
            ("success_action_status", "201"),
            ("x-amz-storage-class", "STANDARD"),
            ("tagging", "<Tagging><TagSet/></Tagging>"),
        ]
    },
    "field-no-condition-covers": page(
        POLICY + ", Conditions ('Each form field ... must appear in the list of conditions'); "
        "S3's answer in moxiecode/moxie#165",
        KEY,
        [("key", "k"), ("Filename", "photo.jpg")],
        status=403,
        code="AccessDenied",
    ),
    "x-ignore-needs-none": page(POLICY + ", Conditions", KEY, [("key", "k"), ("x-ignore-a", "b")]),
    "expiration-with-milliseconds": page(
        POLICY + ", Expiration ('2013-08-01T12:00:00.000Z')",
        conditions=KEY,
        fields=[("key", "k")],
        expiration="2026-03-01T13:00:00.000Z",
    ),
    "expiration-with-an-offset": page(
        POLICY + ", Expiration ('ISO8601 GMT'); S3's answer in dwilkie/carrierwave_direct#2",
        conditions=KEY,
        expiration="2026-03-01T14:00:00+02:00",
        fields=[("key", "k")],
        status=400,
        code="InvalidPolicyDocument",
    ),
    "expiration-with-a-space": page(
        POLICY + ", Expiration; S3's answer in dwilkie/carrierwave_direct#189",
        conditions=KEY,
        expiration="2026-03-01 13:00:00 UTC",
        fields=[("key", "k")],
        status=400,
        code="InvalidPolicyDocument",
    ),
    "expiration-null": page(
        POLICY + ", Expiration (a date); S3 reads no other",
        document={"expiration": None, "conditions": [{"bucket": BUCKET}]},
        fields=[("key", "k")],
        status=400,
        code="InvalidPolicyDocument",
    ),
    "range-of-fractions": page(
        "S3's answer in repost.aws QUo27u4OYpTA-XvAWr72xeRg ([content-length-range, 0, 512.0])",
        [*KEY, ["content-length-range", 0, 512.0]],
        [("key", "k")],
        status=400,
        code="InvalidPolicyDocument",
    ),
    "simple-condition-a-number": page(
        "S3's answer in toniopelo/modbox#10 ('Invalid Simple-Condition: value must be a string')",
        [*KEY, {"x-amz-meta-size": 6199034}],
        [("key", "k"), ("x-amz-meta-size", "6199034")],
        status=400,
        code="InvalidPolicyDocument",
    ),
    "simple-condition-null": page(
        "S3's answer in dwilkie/carrierwave_direct#230 ('Invalid Policy: Invalid JSON.')",
        [*KEY, {"success_action_redirect": None}],
        [("key", "k")],
        status=400,
        code="InvalidPolicyDocument",
    ),
    "policy-not-json": page(
        "S3's answer in tpyo/amazon-s3-php-class#53 ('Invalid Policy: Invalid JSON.')",
        document="{ expiration: tomorrow }",
        fields=[("key", "k")],
        status=400,
        code="InvalidPolicyDocument",
    ),
    "filename-from-a-windows-path": page(
        FORMS + " (only the text after the last slash or backslash)",
        [["starts-with", "$key", "user/"]],
        [("key", "user/${filename}")],
        file=("C:\\Program Files\\directory1\\file.txt", b"x", "text/plain"),
    ),
    "filename-empty": page(
        FORMS + " ('If no file or file name is provided, the variable is replaced with an "
        "empty string')",
        [{"key": "user/"}],
        [("key", "user/${filename}")],
        file=("", b"x", "text/plain"),
    ),
    "filename-in-every-field": page(
        FORMS + " ('recognized by all form fields')",
        [*KEY, {"content-disposition": "attachment; filename=photo.jpg"}],
        [("key", "k"), ("Content-Disposition", "attachment; filename=${filename}")],
    ),
    "fields-after-the-file-ignored": page(
        POST_OBJECT + " ('Any fields below it are ignored')",
        KEY,
        [("key", "k")],
        after=[("acl", "public-read"), ("x-amz-meta-evil", "yes")],
    ),
    "no-file": page(
        POST_OBJECT + "; S3's answer in rowanwins/vue-dropzone#303",
        KEY,
        [("key", "k")],
        file=None,
        status=400,
        code="InvalidArgument",
    ),
    **{
        f"status-{given}": page(
            POST_OBJECT + ", success_action_status",
            [*KEY, {"success_action_status": given}],
            [("key", "k"), ("success_action_status", given)],
            status=answered,
        )
        for given, answered in [("200", 200), ("201", 201), ("204", 204), ("302", 204)]
    },
    "redirect-the-deprecated-name": page(
        POST_OBJECT + ", success_action_redirect, redirect",
        [*KEY, {"redirect": "https://site.example/done"}],
        [("key", "k"), ("redirect", "https://site.example/done")],
        status=303,
    ),
    "content-md5-matches": page(
        POST_OBJECT + " (Content-MD5)",
        [*KEY, {"content-md5": base64.b64encode(hashlib.md5(b"bytes").digest()).decode()}],
        [("key", "k"), ("Content-MD5", base64.b64encode(hashlib.md5(b"bytes").digest()).decode())],
    ),
    "content-md5-differs": page(
        POST_OBJECT + " ('If they do not match, Amazon S3 returns an error'); the code as "
        "LocalStack recorded it, TestS3::test_s3_invalid_content_md5",
        [*KEY, {"content-md5": "CY9rzUYh03PK3k6DJie09g=="}],
        [("key", "k"), ("Content-MD5", "CY9rzUYh03PK3k6DJie09g==")],
        status=400,
        code="BadDigest",
    ),
    "content-md5-no-digest": page(
        POST_OBJECT + "; the code as LocalStack recorded it, TestS3::test_s3_invalid_content_md5",
        [*KEY, {"content-md5": "__invalid__"}],
        [("key", "k"), ("Content-MD5", "__invalid__")],
        status=400,
        code="InvalidDigest",
    ),
    "acl-unknown": page(
        POST_OBJECT + " ('If an invalid ACL is specified, Amazon S3 denies the request'); the "
        "code as LocalStack recorded it, TestS3::test_s3_bucket_acl_exceptions",
        [*KEY, {"acl": "fake-acl"}],
        [("key", "k"), ("acl", "fake-acl")],
        status=400,
        code="InvalidArgument",
    ),
    "encryption-unknown": page(
        POST_OBJECT + ", x-amz-server-side-encryption (AES256, aws:kms, aws:kms:dsse)",
        [*KEY, {"x-amz-server-side-encryption": "ROT13"}],
        [("key", "k"), ("x-amz-server-side-encryption", "ROT13")],
        status=400,
        code="InvalidArgument",
    ),
    "credential-of-another-region": page(
        "sigv4-post-example ('The bucket must be in the region that you specified in the "
        "credential scope'); S3's answer in CulturalMe/meteor-slingshot#150",
        KEY,
        [("key", "k")],
        edit=changed("x-amz-credential", lambda c: c.replace("us-east-1", "eu-west-1")),
        status=400,
        code="InvalidArgument",
    ),
    "credential-of-another-service": page(
        POLICY + ", x-amz-credential ('For Amazon S3, the aws-service string is s3')",
        KEY,
        [("key", "k")],
        edit=changed("x-amz-credential", lambda c: c.replace("/s3/", "/sqs/")),
        status=400,
        code="InvalidArgument",
    ),
    "credential-without-a-key": page(
        "S3's answer in outline/outline#7060",
        KEY,
        [("key", "k")],
        edit=changed("x-amz-credential", lambda c: c[c.index("/") :]),
        status=400,
        code="InvalidArgument",
    ),
    "date-not-iso8601": page(
        "S3's answer in michaeldyrynda/s3upload#1",
        KEY,
        [("key", "k")],
        edit=changed("x-amz-date", lambda d: d[:8]),
        status=400,
        code="InvalidArgument",
    ),
    "no-algorithm": page(
        POLICY + " (x-amz-algorithm is 'required if a POST policy document is included')",
        KEY,
        [("key", "k")],
        edit=without("x-amz-algorithm"),
        status=400,
        code="InvalidArgument",
    ),
    "fields-before-the-file-over-20-kb": page(
        POST_OBJECT + " ('cannot exceed 20KB'); S3's answer in waynehoover/s3_direct_upload#45",
        [*KEY, ["starts-with", "$x-amz-meta-note", ""]],
        [("key", "k"), ("x-amz-meta-note", "n" * 20480)],
        status=400,
        code="MaxPostPreDataLengthExceeded",
    ),
    "fields-after-the-file-over-20-kb": page(
        POST_OBJECT + " (the limit is on what precedes the file, and what follows is ignored)",
        KEY,
        [("key", "k")],
        after=[("x-amz-meta-note", "n" * 40960)],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_gate_follows_the_pages(name, s3, signer):
    assert_answered_as_s3(CASES[name], s3, signer)


def test_what_the_pages_say_is_stored_is_stored(s3, signer):
    s3.bucket(BUCKET)
    for name in (
        "filename-from-a-windows-path",
        "filename-in-every-field",
        "fields-after-the-file-ignored",
    ):
        CASES[name].send(s3, signer)
    assert sorted(s3.keys(BUCKET)) == ["k", "user/file.txt"]
    stored = s3.stored(BUCKET, "k")
    assert stored["Metadata"] == {}
    acl = s3.s3.get_object_acl(Bucket=BUCKET, Key="k")
    assert [grant["Permission"] for grant in acl["Grants"]] == ["FULL_CONTROL"]


def test_an_access_key_the_gate_does_not_know_is_named(s3, signer):
    s3.bucket(BUCKET)
    unknown = page(POLICY, KEY, [("key", "k")], edit=changed("x-amz-credential", lambda c: "X" + c))
    verdict = unknown.send(s3, signer)
    assert (verdict.status, verdict.code) == (403, "InvalidAccessKeyId")
    assert verdict.elements["AWSAccessKeyId"] == "Xtesting"


def test_the_20_kb_refusal_names_its_limit(s3, signer):
    s3.bucket(BUCKET)
    verdict = CASES["fields-before-the-file-over-20-kb"].send(s3, signer)
    assert verdict.elements["MaxPostPreDataLengthBytes"] == "20480"


def test_a_form_without_a_boundary_is_not_well_formed(s3):
    s3.bucket(BUCKET)
    verdict = s3.post(BUCKET, [("key", "k")], content_type="multipart/form-data")
    assert (verdict.status, verdict.code) == (400, "MalformedPOSTRequest")
