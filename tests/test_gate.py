"""The embedded AWS's gate refuses what S3 refuses, as S3 does (moto alone accepts all), and
forwards to moto exactly the form it judged.

Each test names the rule of AWS's documentation it follows: "POST Policy"
(sigv4-HTTPPOSTConstructPolicy), "PostObject", and the Signature Version 4 pages.
"""

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from app.services import services_for

from support import Clock, jpeg_bytes, multipart, s3_gate, stored_keys, with_a_second_file

ENDPOINT = "http://127.0.0.1:5100"
PREFIX = "uploads/job1/owner1/"
PHOTO = ("photo.jpg", jpeg_bytes(), "image/jpeg")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def local_storage(services):
    """Storage signing for the embedded AWS's path-style endpoint (nothing is sent)."""
    return services_for(services.settings.replace(aws_endpoint_url=ENDPOINT)).storage


@pytest.fixture
def gate(local_storage, clock):
    return s3_gate(local_storage, clock)


@pytest.fixture
def post(local_storage):
    return local_storage.presigned_post(
        "job1", "owner1", redirect="https://site.test/jobs/T/uploaded"
    )


def custom_post(local_storage, key: str, fields: dict, conditions: list) -> dict:
    """A form signed for any policy, as a careless site might sign one."""
    return local_storage.client.generate_presigned_post(
        Bucket=local_storage.uploads_bucket, Key=key, Fields=fields, Conditions=conditions
    )


def send(gate, post, fields=None, file=PHOTO, after=(), headers=None):
    fields = list(post["fields"].items()) if fields is None else fields
    body, content_type = multipart(fields, file, after)
    path = post["url"][len(ENDPOINT) :]
    return gate.post(
        path, data=body, content_type=content_type, base_url=ENDPOINT, headers=headers or {}
    )


def error_code(response) -> str:
    text = response.get_data(as_text=True)
    return text.split("<Code>")[1].split("</Code>")[0]


def replace(post, name, value):
    return [(n, value if n == name else v) for n, v in post["fields"].items()]


def stored(services, key: str) -> dict:
    return services.storage.client.head_object(Bucket=services.storage.uploads_bucket, Key=key)


def test_a_valid_upload_is_accepted_and_stored_under_its_filename(gate, post, services):
    response = send(gate, post, file=("holiday photo.jpg", jpeg_bytes(), "image/jpeg"))
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://site.test/jobs/T/uploaded")
    assert stored_keys(services, services.storage.uploads_bucket) == [f"{PREFIX}holiday photo.jpg"]


def test_a_file_over_the_limit_is_refused(gate, post, services):
    limit = services.settings.max_upload_bytes
    response = send(gate, post, file=("big.jpg", b"\xff" * (limit + 1), "image/jpeg"))
    assert response.status_code == 400
    assert error_code(response) == "EntityTooLarge"
    assert f"<MaxSizeAllowed>{limit}</MaxSizeAllowed>" in response.get_data(as_text=True)


def test_an_empty_file_is_refused(gate, post):
    response = send(gate, post, file=("empty.jpg", b"", "image/jpeg"))
    assert (response.status_code, error_code(response)) == (400, "EntityTooSmall")


@pytest.mark.parametrize(
    "field,value",
    [
        ("Content-Type", "text/html"),
        ("key", "uploads/another-job/owner1/photo.jpg"),
        ("key", "uploads/job1/another-owner/photo.jpg"),
        ("key", "results/job1/thumb.jpg"),
        ("success_action_redirect", "https://evil.test/steal"),
    ],
)
def test_a_field_changed_against_the_policy_is_refused(gate, post, field, value):
    fields = replace(post, field, value)
    body, content_type = multipart(fields, PHOTO)
    response = gate.post(
        post["url"][len(ENDPOINT) :], data=body, content_type=content_type, base_url=ENDPOINT
    )
    assert response.status_code == 403
    assert error_code(response) == "AccessDenied"
    assert "Policy Condition failed" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "name,first",
    [
        ("key", "uploads/victim-job/victim/x.jpg"),
        ("Content-Type", "text/html"),
        ("success_action_redirect", "https://evil.test/steal"),
    ],
)
def test_a_repeated_field_is_joined_with_commas_and_fails_its_condition(
    gate, post, services, name, first
):
    """PostObject: S3 joins a repeated field's values with commas (moto kept the first)."""
    response = send(gate, post, fields=[(name, first), *post["fields"].items()])
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    assert stored_keys(services, services.storage.uploads_bucket) == []


def test_fields_after_the_file_never_reach_storage(gate, post, services):
    """PostObject: "Any fields below [the file] are ignored": an ACL placed there does not
    make the object public."""
    response = send(gate, post, after=[("acl", "public-read"), ("x-amz-meta-evil", "yes")])
    assert response.status_code == 303
    key = f"{PREFIX}photo.jpg"
    grants = services.storage.client.get_object_acl(Bucket=services.storage.uploads_bucket, Key=key)
    assert [g["Permission"] for g in grants["Grants"]] == ["FULL_CONTROL"]
    assert "evil" not in stored(services, key)["Metadata"]


def test_a_second_file_after_the_first_is_ignored_not_stored_past_the_limit(gate, post, services):
    body, content_type = with_a_second_file(list(post["fields"].items()))
    response = gate.post(
        post["url"][len(ENDPOINT) :], data=body, content_type=content_type, base_url=ENDPOINT
    )
    assert response.status_code == 303
    assert stored(services, f"{PREFIX}tiny.jpg")["ContentLength"] == 1


@pytest.mark.parametrize(
    "value,accepted",
    [
        ("image/jpeg,text/html", False),
        ("text/html,image/jpeg", False),
        ("image/jpeg,image/png", True),
    ],
)
def test_every_value_of_a_comma_separated_content_type_must_pass(gate, post, value, accepted):
    """POST Policy, "Matching Content-Types in a Comma-Separated List"."""
    fields = [(n, v) for n, v in post["fields"].items() if n != "Content-Type"]
    body, content_type = multipart([*fields, ("Content-Type", value)], PHOTO)
    response = gate.post(
        post["url"][len(ENDPOINT) :], data=body, content_type=content_type, base_url=ENDPOINT
    )
    assert response.status_code == (303 if accepted else 403)


def types_the_page_sends() -> set[str]:
    """Every Content-Type the upload page's script may send: a file's own type when the browser
    names one, else the one its extension gives, else image/unknown."""
    script = (Path(__file__).resolve().parent.parent / "static" / "site.js").read_text()
    table = script[script.index("TYPES_BY_EXTENSION = {") : script.index("};")]
    return set(re.findall(r'"(image/[a-z0-9.+-]+)"', table)) | {"image/unknown"}


@pytest.mark.parametrize("value", sorted(types_the_page_sends()))
def test_the_policy_admits_every_type_the_page_sends_for_a_file_the_browser_gave_none(
    gate, post, value
):
    fields = [(n, v) for n, v in post["fields"].items() if n != "Content-Type"]
    body, content_type = multipart([*fields, ("Content-Type", value)], ("IMG_0001.HEIC", b"x", ""))
    response = gate.post(
        post["url"][len(ENDPOINT) :], data=body, content_type=content_type, base_url=ENDPOINT
    )
    assert response.status_code == 303


def test_the_page_names_a_type_for_heic_and_the_policy_refuses_an_empty_one(gate, post):
    assert {"image/heic", "image/heif"} <= types_the_page_sends()
    fields = [(n, v) for n, v in post["fields"].items() if n != "Content-Type"]
    body, content_type = multipart([*fields, ("Content-Type", "")], ("IMG_0001.HEIC", b"x", ""))
    response = gate.post(
        post["url"][len(ENDPOINT) :], data=body, content_type=content_type, base_url=ENDPOINT
    )
    assert response.status_code == 403


def test_a_comma_elsewhere_is_part_of_the_value(gate, post, services):
    response = send(gate, post, file=("a,b.jpg", jpeg_bytes(), "image/jpeg"))
    assert response.status_code == 303
    assert stored_keys(services, services.storage.uploads_bucket) == [f"{PREFIX}a,b.jpg"]


def test_field_names_are_case_insensitive(gate, post, services):
    """HTML form field names are matched without regard to case, as S3 matches them."""
    upper = [("KEY" if n == "key" else n, v) for n, v in post["fields"].items()]
    assert send(gate, post, fields=upper).status_code == 303
    assert stored_keys(services, services.storage.uploads_bucket) == [f"{PREFIX}photo.jpg"]
    both = [("KEY", "uploads/victim/v/x.jpg"), *post["fields"].items()]
    response = send(gate, post, fields=both)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")


@pytest.mark.parametrize("given,answered", [("201", 201), ("200", 200), ("299", 204), ("", 204)])
def test_success_action_status_other_than_200_201_or_204_gets_204(
    gate, local_storage, given, answered
):
    """PostObject, success_action_status: an invalid value gets an empty 204."""
    post = custom_post(
        local_storage,
        PREFIX + "${filename}",
        {"Content-Type": "image/jpeg", "success_action_status": given},
        [{"success_action_status": given}, {"Content-Type": "image/jpeg"}],
    )
    assert send(gate, post).status_code == answered


@pytest.mark.parametrize("field", ["bucket", "success_action_status", "x-amz-credential"])
def test_starts_with_is_refused_on_fields_that_take_exact_matches_only(gate, local_storage, field):
    """POST Policy, Conditions: these fields support exact matching only."""
    post = custom_post(
        local_storage,
        PREFIX + "${filename}",
        {"Content-Type": "image/jpeg", "success_action_status": "201"},
        [
            ["starts-with", f"${field}", ""],
            {"Content-Type": "image/jpeg"},
            {"success_action_status": "201"},
        ],
    )
    response = send(gate, post)
    assert (response.status_code, error_code(response)) == (400, "InvalidPolicyDocument")


def test_filename_is_put_in_the_key_before_the_key_is_checked(gate, local_storage, services):
    """PostObject, key: ${filename} is replaced by the name of the file sent."""
    post = custom_post(
        local_storage,
        PREFIX + "${filename}",
        {"Content-Type": "image/jpeg"},
        [{"key": PREFIX + "photo.jpg"}, {"Content-Type": "image/jpeg"}],
    )
    # boto3 adds its own starts-with for ${filename}; the exact condition is the one that bites.
    assert send(gate, post, file=("photo.jpg", jpeg_bytes(), "image/jpeg")).status_code == 204
    refused = send(gate, post, file=("other.jpg", jpeg_bytes(), "image/jpeg"))
    assert (refused.status_code, error_code(refused)) == (403, "AccessDenied")
    assert stored_keys(services, services.storage.uploads_bucket) == [f"{PREFIX}photo.jpg"]


@pytest.mark.parametrize("field", ["success_action_redirect", "key", "Content-Type"])
def test_a_line_break_in_a_field_is_refused(gate, post, field):
    value = post["fields"].get(field, "image/jpeg") + "\r\nX-Injected: 1"
    fields = [(n, value if n == field else v) for n, v in post["fields"].items()]
    body, content_type = multipart(fields, PHOTO)
    response = gate.post(
        post["url"][len(ENDPOINT) :], data=body, content_type=content_type, base_url=ENDPOINT
    )
    assert (response.status_code, error_code(response)) == (400, "InvalidArgument")


def test_an_expired_policy_is_refused(gate, post, clock, services):
    clock.now += timedelta(seconds=services.settings.upload_expires_seconds + 1)
    response = send(gate, post)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    assert "Policy expired" in response.get_data(as_text=True)


def forged(now: datetime) -> dict[str, str]:
    """An Authorization header as an attacker writes one: well formed, signed by nobody."""
    return {
        "X-Amz-Date": now.strftime("%Y%m%dT%H%M%SZ"),
        "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
        "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/{now:%Y%m%d}/us-east-1/s3/"
        "aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00",
    }


def test_an_authorization_header_does_not_switch_the_gate_off(gate, post, services, clock):
    """Signature Version 4: a forged signature is refused, form or no form; an expired form
    stays expired with any header."""
    response = send(gate, post, headers=forged(clock.now))
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")
    clock.now += timedelta(seconds=services.settings.upload_expires_seconds + 1)
    expired = send(gate, post, headers=forged(clock.now))
    assert expired.status_code == 403
    assert stored_keys(services, services.storage.uploads_bucket) == []


@pytest.mark.parametrize(
    "path", ["/{bucket}?list-type=2", "/{bucket}", "/{bucket}/uploads/job1/owner1/a.jpg"]
)
def test_an_anonymous_request_to_a_private_bucket_is_refused(gate, services, path):
    url = path.format(bucket=services.storage.uploads_bucket)
    response = gate.get(url, base_url=ENDPOINT)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    assert "<Key>" not in response.get_data(as_text=True)


def test_a_tampered_signature_is_refused(gate, post):
    signature = post["fields"]["x-amz-signature"]
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    response = send(gate, post, fields=replace(post, "x-amz-signature", forged))
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")


def test_a_policy_rewritten_without_its_signature_is_refused(gate, post, local_storage):
    wider = local_storage.presigned_post("job2", "owner1", redirect="https://site.test/x")
    response = send(gate, post, fields=replace(post, "policy", wider["fields"]["policy"]))
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")


def test_an_extra_field_is_refused(gate, post):
    fields = list(post["fields"].items()) + [("acl", "public-read")]
    response = send(gate, post, fields=fields)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    assert "Extra input fields: acl" in response.get_data(as_text=True)


def test_x_ignore_fields_are_exempt_and_never_stored(gate, post, services):
    """PostObject: fields prefixed x-ignore- need no condition."""
    response = send(gate, post, fields=[*post["fields"].items(), ("x-ignore-note", "hello")])
    assert response.status_code == 303
    # Only the form's own field (the original's size, empty without script) is kept.
    assert stored(services, f"{PREFIX}photo.jpg")["Metadata"] == {"original-size": ""}


def test_an_upload_without_a_policy_is_denied(gate, post):
    fields = [(n, v) for n, v in post["fields"].items() if n != "policy"]
    response = send(gate, post, fields=fields)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")


def test_an_upload_without_a_file_is_refused(gate, post):
    response = send(gate, post, file=None)
    assert (response.status_code, error_code(response)) == (400, "InvalidArgument")


def test_a_malformed_body_is_refused_not_a_crash(gate, post):
    response = gate.post(
        post["url"][len(ENDPOINT) :],
        data=b"--x\r\nnot a part",
        content_type="multipart/form-data; boundary=x",
        base_url=ENDPOINT,
    )
    assert 400 <= response.status_code < 500


@pytest.fixture
def stored_result(services):
    services.storage.client.put_object(
        Bucket=services.storage.results_bucket, Key="results/job1/thumb.jpg", Body=b"bytes"
    )


def get(gate, url):
    return gate.get(url[len(ENDPOINT) :], base_url=ENDPOINT)


def test_a_presigned_link_works_until_it_expires(
    gate, local_storage, stored_result, clock, services
):
    url = local_storage.presigned_get("results/job1/thumb.jpg", "holiday-thumb.jpg")
    response = get(gate, url)
    assert response.status_code == 200 and response.get_data() == b"bytes"
    clock.now += timedelta(seconds=services.settings.link_expires_seconds + 1)
    response = get(gate, url)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    assert "Request has expired" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "origin, allowed",
    [(None, False), ("http://127.0.0.1:5000", True), ("https://elsewhere.example", False)],
)
def test_a_result_answers_with_cors_headers_only_for_an_allowed_origin_as_s3_does(
    gate, local_storage, stored_result, origin, allowed
):
    """S3 sends CORS headers only to an Origin the bucket's rules allow, and then Vary, so a
    browser keeps apart what it fetched for a page and what it fetched plainly. moto's server
    says `Access-Control-Allow-Origin: *` to all."""
    from embedded_aws.gate import S3_CORS_VARY

    url = local_storage.presigned_get("results/job1/thumb.jpg")
    headers = {"Origin": origin} if origin else {}
    response = gate.get(url[len(ENDPOINT) :], base_url=ENDPOINT, headers=headers)
    assert response.status_code == 200
    assert response.headers.get("Access-Control-Allow-Origin") == (origin if allowed else None)
    assert response.headers.get("Vary") == (S3_CORS_VARY if allowed else None)
    # The link's own life, not the object's year: what a browser may keep of it.
    assert response.headers["Cache-Control"] == "private, max-age=300, immutable"


@pytest.mark.parametrize(
    "edit",
    [
        lambda url: url.replace("thumb.jpg", "preview.jpg"),
        lambda url: url.replace("X-Amz-Expires=300", "X-Amz-Expires=99999"),
        lambda url: url.replace("holiday", "evil"),
        lambda url: url[:-1] + ("0" if url[-1] != "0" else "1"),
    ],
)
def test_an_edited_presigned_link_is_refused(gate, local_storage, stored_result, edit):
    url = local_storage.presigned_get("results/job1/thumb.jpg", "holiday-thumb.jpg")
    response = get(gate, edit(url))
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")


# Signed API calls, over HTTP to the embedded AWS in its own process (moto's in-process mock
# would intercept them before any gate).


@pytest.mark.e2e
def test_signed_calls_with_the_right_key_pass_and_with_a_wrong_one_are_refused(site_aws):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    def s3(secret: str):
        return boto3.client(
            "s3",
            endpoint_url=site_aws["endpoint"],
            aws_access_key_id="testing",
            aws_secret_access_key=secret,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    assert s3("testing").list_objects_v2(Bucket="thumbs-e2e-uploads")["KeyCount"] >= 0
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        s3("not-the-secret").list_objects_v2(Bucket="thumbs-e2e-uploads")
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=site_aws["endpoint"],
        aws_access_key_id="testing",
        aws_secret_access_key="not-the-secret",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError, match="InvalidSignature"):
        dynamodb.describe_table(TableName="thumbs-e2e-jobs")


@pytest.mark.e2e
def test_an_anonymous_listing_of_the_embedded_s3_is_refused(site_aws):
    response = requests.get(f"{site_aws['endpoint']}/thumbs-e2e-uploads?list-type=2")
    assert response.status_code == 403 and "<Code>AccessDenied</Code>" in response.text
    assert "<Contents>" not in response.text
