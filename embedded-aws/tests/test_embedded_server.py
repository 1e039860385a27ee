"""The server: on a free port, every signature checked, anonymous requests refused, reset to
an empty account, a taken port named, a port in TIME_WAIT free, moto's Lambda gaps filled."""

from __future__ import annotations

import random
import socket
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from embedded_aws import EmbeddedAWS, PortInUse, client, port_is_free


@pytest.fixture(scope="module")
def server():
    aws = EmbeddedAWS(0).start()
    yield aws
    aws.stop()


def test_it_serves_on_the_free_port_it_was_given(server):
    assert server.port > 0 and server.is_running()
    assert EmbeddedAWS(server.port).is_running()


def test_a_call_signed_with_the_test_credentials_passes_and_any_other_is_refused(server):
    s3 = client("s3", server.endpoint)
    s3.create_bucket(Bucket="signed-calls")
    forged = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="not-the-secret",
    )
    with pytest.raises(ClientError) as refused:
        forged.list_objects_v2(Bucket="signed-calls")
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_anonymous_read_of_a_private_bucket_is_refused_as_s3_refuses_it(server):
    s3 = client("s3", server.endpoint)
    s3.create_bucket(Bucket="private-reads")
    s3.put_object(Bucket="private-reads", Key="secret.txt", Body=b"x")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.endpoint}/private-reads/secret.txt")
    assert refused.value.code == 403
    assert b"<Code>AccessDenied</Code>" in refused.value.read()


def test_a_presigned_link_works_until_its_signature_is_edited(server):
    s3 = client("s3", server.endpoint)
    s3.create_bucket(Bucket="presigned-links")
    s3.put_object(Bucket="presigned-links", Key="a.txt", Body=b"hello")
    link = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "presigned-links", "Key": "a.txt"}, ExpiresIn=60
    )
    assert urllib.request.urlopen(link).read() == b"hello"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(link.replace("a.txt", "b.txt"))
    assert refused.value.code == 403


def test_reset_leaves_an_empty_account():
    aws = EmbeddedAWS(0).start()
    try:
        client("s3", aws.endpoint).create_bucket(Bucket="before-reset")
        client("sqs", aws.endpoint).create_queue(QueueName="before-reset")
        aws.reset()
        assert client("s3", aws.endpoint).list_buckets()["Buckets"] == []
        assert "QueueUrls" not in client("sqs", aws.endpoint).list_queues()
    finally:
        aws.stop()


def test_a_port_another_program_listens_on_is_named():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match=f"Port {port} is in use by another program"):
            EmbeddedAWS(port).start()


def unclaimed_port() -> int:
    """A free port below the ephemeral range: no other program is handed it by the system
    (for port 0, or as a connection's own port) the moment this test lets it go."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(max(1024, low - 8000), low), 200):
        if port_is_free("127.0.0.1", port):
            return port
    raise RuntimeError("no free port below the ephemeral range")


def test_a_port_left_in_time_wait_by_a_stopped_server_is_free_again():
    aws = EmbeddedAWS(unclaimed_port()).start()
    port = aws.port
    s3 = client("s3", aws.endpoint)
    s3.list_buckets()
    s3.close()  # a client that keeps its connection open keeps the port busy, as it should
    aws.stop()
    assert port_is_free("127.0.0.1", port)
    again = EmbeddedAWS(port).start()
    try:
        assert again.port == port and again.is_running()
    finally:
        again.stop()


@pytest.mark.parametrize("answer", ["redirect", "201", "204"])
def test_a_stored_upload_is_answered_with_its_etag_as_s3_answers_it(server, answer):
    # PostObject: S3 appends bucket, key and etag to the redirect; 201 returns a PostResponse
    # document; every answer carries the object's ETag (moto sends neither).
    import hashlib
    from urllib.parse import parse_qs, urlsplit
    from xml.etree import ElementTree

    import requests

    s3 = client("s3", server.endpoint)
    s3.create_bucket(Bucket="answers")
    fields = {
        "redirect": {"success_action_redirect": "https://site.example/done?t=1"},
        "201": {"success_action_status": "201"},
        "204": {},
    }[answer]
    form = s3.generate_presigned_post(
        "answers", "in/${filename}", Fields=fields, Conditions=[fields] if fields else []
    )
    sent = requests.post(
        form["url"],
        data=form["fields"],
        files={"file": ("a b.jpg", b"bytes")},
        allow_redirects=False,
    )
    etag = f'"{hashlib.md5(b"bytes").hexdigest()}"'
    assert (
        sent.headers["ETag"] == etag == s3.head_object(Bucket="answers", Key="in/a b.jpg")["ETag"]
    )
    if answer == "redirect":
        location = urlsplit(sent.headers["Location"])
        assert (sent.status_code, location.netloc, location.path) == (303, "site.example", "/done")
        assert parse_qs(location.query) == {
            "t": ["1"],
            "bucket": ["answers"],
            "key": ["in/a b.jpg"],
            "etag": [etag],
        }
    elif answer == "201":
        document = ElementTree.fromstring(sent.content)
        assert document.tag == "PostResponse"
        assert {e.tag: e.text for e in document} == {
            "Location": f"{server.endpoint}/answers/in/a%20b.jpg",
            "Bucket": "answers",
            "Key": "in/a b.jpg",
            "ETag": etag,
        }
    else:
        assert (sent.status_code, sent.content) == (204, b"")
