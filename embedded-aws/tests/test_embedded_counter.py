"""The request counter: each request named by its service and operation as AWS bills it, the
event pump's own calls left out, the counts served over HTTP and reset."""

from __future__ import annotations

import json
import urllib.request

import requests

from embedded_aws.counter import PATH, classify


def test_each_call_is_counted_by_service_and_operation(embedded_aws):
    s3, dynamodb = embedded_aws.client("s3"), embedded_aws.client("dynamodb")
    s3.create_bucket(Bucket="counted")
    s3.put_object(Bucket="counted", Key="a/1.txt", Body=b"one")
    s3.head_object(Bucket="counted", Key="a/1.txt")
    s3.get_object(Bucket="counted", Key="a/1.txt")["Body"].read()
    s3.list_objects_v2(Bucket="counted", Prefix="a/")
    s3.delete_object(Bucket="counted", Key="a/1.txt")
    dynamodb.create_table(
        TableName="counted",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="counted", Item={"id": {"S": "x"}})
    dynamodb.get_item(TableName="counted", Key={"id": {"S": "x"}})
    dynamodb.get_item(TableName="counted", Key={"id": {"S": "x"}})
    assert embedded_aws.counts() == {
        "s3": {
            "CreateBucket": 1,
            "DeleteObject": 1,
            "GetObject": 1,
            "HeadObject": 1,
            "ListObjectsV2": 1,
            "PutObject": 1,
        },
        "dynamodb": {"CreateTable": 1, "GetItem": 2, "PutItem": 1},
    }


def test_a_browser_upload_and_a_presigned_link_are_counted_as_s3_counts_them(embedded_aws):
    s3 = embedded_aws.client("s3")
    s3.create_bucket(Bucket="browser")
    form = s3.generate_presigned_post("browser", "in/${filename}")
    sent = requests.post(form["url"], data=form["fields"], files={"file": ("x.txt", b"x")})
    assert sent.status_code == 204
    link = s3.generate_presigned_url("get_object", Params={"Bucket": "browser", "Key": "in/x.txt"})
    assert requests.get(link).content == b"x"
    refused = requests.get(f"{embedded_aws.endpoint_url}/browser/in/x.txt")  # anonymous: 403
    assert refused.status_code == 403
    assert embedded_aws.counts(reset=True)["s3"] == {
        "CreateBucket": 1,
        "PostObject": 1,
        "GetObject": 2,  # S3 bills a refused request too
    }
    assert embedded_aws.counts() == {}


def test_the_event_pump_costs_nothing_and_an_invoke_is_counted(embedded_aws):
    s3 = embedded_aws.client("s3")
    s3.create_bucket(Bucket="events")
    seen = []
    embedded_aws.on_s3_event("events", lambda event, context: seen.append(event))
    embedded_aws.counts(reset=True)
    s3.put_object(Bucket="events", Key="k", Body=b"1")
    embedded_aws.settle()
    assert len(seen) == 1
    assert embedded_aws.counts() == {"s3": {"PutObject": 1}}


def test_the_counts_are_served_over_http_and_reset_by_delete(embedded_aws):
    embedded_aws.client("sqs").create_queue(QueueName="counted")
    url = embedded_aws.endpoint_url + PATH
    with urllib.request.urlopen(url) as answer:
        assert json.load(answer) == {"sqs": {"CreateQueue": 1}}
    urllib.request.urlopen(urllib.request.Request(url, method="DELETE")).close()
    with urllib.request.urlopen(url) as answer:
        assert json.load(answer) == {}


def _environ(method, path, query="", **headers):
    return {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, **headers}


def test_the_operation_is_read_from_the_request_alone():
    signed = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{}/aws4_request, S=x"
    assert classify(_environ("GET", "/b", "list-type=2&prefix=u")) == ("s3", "ListObjectsV2")
    assert classify(_environ("GET", "/b", "cors")) == ("s3", "GetBucketCors")
    assert classify(_environ("POST", "/b", "delete")) == ("s3", "DeleteObjects")
    assert classify(_environ("OPTIONS", "/b")) == ("s3", "PreflightRequest")
    assert classify(
        _environ(
            "POST",
            "/",
            HTTP_X_AMZ_TARGET="Logs_20140328.PutRetentionPolicy",
            HTTP_AUTHORIZATION=signed.format("logs"),
        )
    ) == ("logs", "PutRetentionPolicy")
    assert classify(
        _environ(
            "POST",
            "/2015-03-31/functions/f/invocations",
            HTTP_AUTHORIZATION=signed.format("lambda"),
        )
    ) == ("lambda", "Invoke")
    assert classify(
        _environ("GET", "/", "Action=GetCallerIdentity", HTTP_AUTHORIZATION=signed.format("sts"))
    ) == ("sts", "GetCallerIdentity")
