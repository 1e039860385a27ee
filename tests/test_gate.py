"""The embedded AWS's gate refuses what S3 refuses, as S3 does (moto alone accepts all)."""

from datetime import UTC, datetime, timedelta

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from app.services import services_for
from embedded_aws import CREDENTIALS
from embedded_aws.gate import S3Gate

from support import jpeg_bytes, multipart, stored_keys

ENDPOINT = "http://127.0.0.1:5100"


class Clock:
    def __init__(self):
        self.now = datetime.now(UTC)

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def local_storage(services):
    """Storage signing for the embedded AWS's path-style endpoint (nothing is sent)."""
    return services_for(services.settings.replace(aws_endpoint_url=ENDPOINT)).storage


@pytest.fixture
def gate(local_storage, clock):
    # The gate knows the secret of the key that signs, as S3 knows its account's keys.
    signing = local_storage.client._request_signer._credentials.get_frozen_credentials()
    credentials = {**CREDENTIALS, signing.access_key: signing.secret_key}
    return Client(S3Gate(DomainDispatcherApplication(create_backend_app), credentials, clock))


@pytest.fixture
def post(local_storage):
    return local_storage.presigned_post("job1", redirect="https://site.test/jobs/T/uploaded")


PHOTO = ("photo.jpg", jpeg_bytes(), "image/jpeg")


def send(gate, post, fields=None, file=PHOTO, after=()):
    fields = list(post["fields"].items()) if fields is None else fields
    fields = [(n, "image/jpeg" if n == "Content-Type" else v) for n, v in fields]
    body, content_type = multipart(fields, file, after)
    path = post["url"][len(ENDPOINT) :]
    return gate.post(path, data=body, content_type=content_type, base_url=ENDPOINT)


def error_code(response) -> str:
    text = response.get_data(as_text=True)
    return text.split("<Code>")[1].split("</Code>")[0]


def replace(post, name, value):
    return [(n, value if n == name else v) for n, v in post["fields"].items()]


def test_a_valid_upload_is_accepted_and_stored_under_its_filename(gate, post, services):
    response = send(gate, post, file=("holiday photo.jpg", jpeg_bytes(), "image/jpeg"))
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://site.test/jobs/T/uploaded")
    assert stored_keys(services, services.storage.uploads_bucket) == [
        "uploads/job1/holiday photo.jpg"
    ]


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
        ("key", "uploads/another-job/photo.jpg"),
        ("key", "results/job1/thumb.jpg"),
        ("success_action_redirect", "https://evil.test/steal"),
    ],
)
def test_a_field_changed_against_the_policy_is_refused(gate, post, field, value):
    fields = replace(post, field, value)
    body, content_type = multipart(fields, ("photo.jpg", jpeg_bytes(), "image/jpeg"))
    response = gate.post(
        post["url"][len(ENDPOINT) :], data=body, content_type=content_type, base_url=ENDPOINT
    )
    assert response.status_code == 403
    assert error_code(response) == "AccessDenied"
    assert "Policy Condition failed" in response.get_data(as_text=True)


def test_an_expired_policy_is_refused(gate, post, clock, services):
    clock.now += timedelta(seconds=services.settings.upload_expires_seconds + 1)
    response = send(gate, post)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    assert "Policy expired" in response.get_data(as_text=True)


def test_a_tampered_signature_is_refused(gate, post):
    signature = post["fields"]["x-amz-signature"]
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    response = send(gate, post, fields=replace(post, "x-amz-signature", forged))
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")


def test_a_policy_rewritten_without_its_signature_is_refused(gate, post, local_storage):
    wider = local_storage.presigned_post("job2", redirect="https://site.test/x")
    response = send(gate, post, fields=replace(post, "policy", wider["fields"]["policy"]))
    assert (response.status_code, error_code(response)) == (403, "SignatureDoesNotMatch")


def test_an_extra_field_is_refused(gate, post):
    fields = list(post["fields"].items()) + [("acl", "public-read")]
    response = send(gate, post, fields=fields)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")
    assert "Extra input fields: acl" in response.get_data(as_text=True)


def test_fields_after_the_file_are_ignored_as_s3_ignores_them(gate, post):
    response = send(gate, post, after=[("acl", "public-read")])
    assert response.status_code == 303


def test_an_upload_without_a_policy_is_denied(gate, post):
    fields = [(n, v) for n, v in post["fields"].items() if n != "policy"]
    response = send(gate, post, fields=fields)
    assert (response.status_code, error_code(response)) == (403, "AccessDenied")


def test_an_upload_without_a_file_is_refused(gate, post):
    response = send(gate, post, file=None)
    assert (response.status_code, error_code(response)) == (400, "InvalidArgument")


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
