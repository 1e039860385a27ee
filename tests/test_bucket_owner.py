"""Buckets that are ours: every call names the owner it expects, and the embedded AWS, as S3
("Verifying bucket ownership with bucket owner condition"), refuses it with 403 AccessDenied
when another account owns a bucket of that name (bucket names are global)."""

import os

import pytest
from botocore.exceptions import ClientError
from moto.s3.models import s3_backends

from app import infra
from app.config import Settings
from app.services import client, services_for
from embedded_aws.server import EmbeddedAWS

OURS = "123456789012"  # moto's account, which the credentials "testing" belong to
THEIRS = "210987654321"


@pytest.fixture
def endpoint(aws):
    """The embedded AWS in this process, on moto's fresh account (which `aws` resets), knowing
    the keys moto's mock puts in the environment."""
    keys = {os.environ["AWS_ACCESS_KEY_ID"]: os.environ["AWS_SECRET_ACCESS_KEY"]}
    server = EmbeddedAWS(0, keys)
    server.start_or_reuse()
    yield server.endpoint
    server.stop()


@pytest.fixture
def settings(endpoint):
    return Settings(stage="owner", aws_endpoint_url=endpoint)


def made_by_another_account(bucket: str) -> None:
    """A bucket of this name, made first by another account."""
    s3_backends[THEIRS]["global"].create_bucket(bucket, "us-east-1")


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_a_call_expecting_another_owner_is_refused_with_403(settings):
    s3 = client("s3", settings)
    made_by_another_account("theirs-bucket")
    s3.create_bucket(Bucket="our-bucket")
    s3.put_object(Bucket="our-bucket", Key="k", Body=b"x", ExpectedBucketOwner=OURS)
    assert error_of(lambda: s3.head_bucket(Bucket="theirs-bucket", ExpectedBucketOwner=OURS)) == (
        403,
        "403",
    )
    for call in (
        lambda: s3.get_object(Bucket="theirs-bucket", Key="k", ExpectedBucketOwner=OURS),
        lambda: s3.put_object(Bucket="theirs-bucket", Key="k", Body=b"x", ExpectedBucketOwner=OURS),
        lambda: s3.get_object(Bucket="our-bucket", Key="k", ExpectedBucketOwner=THEIRS),
        lambda: s3.list_objects_v2(Bucket="our-bucket", ExpectedBucketOwner=THEIRS),
    ):
        assert error_of(call) == (403, "AccessDenied")
    # The owner it names is the owner: the calls go through.
    s3.head_bucket(Bucket="theirs-bucket", ExpectedBucketOwner=THEIRS)
    assert s3.get_object(Bucket="our-bucket", Key="k", ExpectedBucketOwner=OURS)["Body"].read()
    # No such bucket: S3's own answer, whatever the owner named.
    assert error_of(lambda: s3.head_bucket(Bucket="no-bucket", ExpectedBucketOwner=OURS)) == (
        404,
        "404",
    )


def test_infra_up_refuses_a_bucket_name_another_account_owns(settings):
    made_by_another_account(settings.uploads_bucket)
    with pytest.raises(infra.InfraError, match=f"account {OURS} does not own it"):
        infra.up(settings, log=lambda message: None)
    # Nothing was set on their bucket, and nothing else was made.
    theirs = s3_backends[THEIRS]["global"].get_bucket(settings.uploads_bucket)
    assert (theirs.policy, theirs.cors, theirs.rules) == (None, [], [])
    assert client("s3", settings).list_buckets()["Buckets"] == []


def test_the_function_refuses_a_bucket_of_its_name_that_is_not_ours(settings):
    """The worker's read of an upload, in a bucket another account made under the stage's
    name, is refused: it never sees (nor writes) a stranger's objects."""
    made_by_another_account(settings.uploads_bucket)
    storage = services_for(settings).storage
    assert error_of(lambda: storage.read_source("uploads/job/owner/a.jpg")) == (
        403,
        "AccessDenied",
    )
    assert error_of(lambda: storage.uploads_page(None, 10)) == (403, "AccessDenied")
