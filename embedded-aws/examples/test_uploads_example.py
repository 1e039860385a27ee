"""An example: a project that lets browsers upload to S3 and handles S3's events, tested with
nothing but the `embedded_aws` fixture. Copy it into your own tests."""

import requests


def test_an_upload_reaches_the_handler(embedded_aws):
    s3 = embedded_aws.client("s3")
    s3.create_bucket(Bucket="uploads")
    seen = []
    embedded_aws.on_s3_event("uploads", lambda event, context: seen.append(event))
    form = s3.generate_presigned_post(
        "uploads", "photos/${filename}", Conditions=[["content-length-range", 1, 1000]]
    )
    sent = requests.post(form["url"], data=form["fields"], files={"file": ("cat.jpg", b"meow")})
    assert sent.status_code == 204
    embedded_aws.settle()
    assert seen[0]["Records"][0]["s3"]["object"]["key"] == "photos/cat.jpg"


def test_s3_refuses_what_the_policy_does_not_allow(embedded_aws):
    s3 = embedded_aws.client("s3")
    s3.create_bucket(Bucket="uploads")
    form = s3.generate_presigned_post(
        "uploads", "photos/${filename}", Conditions=[["content-length-range", 1, 1000]]
    )
    too_big = {"file": ("cat.jpg", b"m" * 1001)}
    sent = requests.post(form["url"], data=form["fields"], files=too_big)
    assert sent.status_code == 400 and "EntityTooLarge" in sent.text
    elsewhere = {**form["fields"], "key": "../other/cat.jpg"}
    sent = requests.post(form["url"], data=elsewhere, files={"file": ("cat.jpg", b"meow")})
    assert sent.status_code == 403 and "AccessDenied" in sent.text
    assert s3.list_objects_v2(Bucket="uploads")["KeyCount"] == 0


def test_any_boto3_client_in_the_code_under_test_reaches_it(embedded_aws):
    import boto3  # built the way application code builds it: no endpoint, no keys

    table = boto3.client("dynamodb")
    table.create_table(
        TableName="jobs",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert embedded_aws.client("dynamodb").list_tables()["TableNames"] == ["jobs"]
