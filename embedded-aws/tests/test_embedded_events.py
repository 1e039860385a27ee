"""S3 events to a Python function, as Lambda's trigger delivers them: filtered by prefix,
keys encoded as S3 encodes them, a failing handler tried three times then kept."""

from __future__ import annotations

import json
import threading

import pytest

from embedded_aws import EmbeddedAWS, S3Events, client


@pytest.fixture
def aws():
    server = EmbeddedAWS(0).start()
    yield server
    server.stop()
    server.reset()


def _bucket(aws, name: str):
    s3 = client("s3", aws.endpoint)
    s3.create_bucket(Bucket=name)
    return s3


def test_each_new_object_under_the_prefix_reaches_the_handler_once(aws):
    s3 = _bucket(aws, "events-prefix")
    seen, contexts = [], []

    def handler(event, context):
        seen.extend(record["s3"]["object"]["key"] for record in event["Records"])
        contexts.append(context)

    events = S3Events(aws.endpoint, "events-prefix", handler, prefix="in/").start()
    try:
        s3.put_object(Bucket="events-prefix", Key="in/a b+c.jpg", Body=b"1")
        s3.put_object(Bucket="events-prefix", Key="elsewhere/d.jpg", Body=b"2")
        events.settle()
    finally:
        events.stop()
    assert seen == ["in/a+b%2Bc.jpg"]  # S3's form encoding: '/' kept, ' ' as '+'
    assert contexts[0].get_remaining_time_in_millis() > 0
    assert contexts[0].aws_request_id


def test_each_record_names_the_notification_as_the_deployment_named_it(aws):
    s3 = _bucket(aws, "events-named")
    named = []

    def handler(event, context):
        named.extend(record["s3"]["configurationId"] for record in event["Records"])

    events = S3Events(aws.endpoint, "events-named", handler, notification_id="thumbs-x").start()
    try:
        s3.put_object(Bucket="events-named", Key="a.jpg", Body=b"1")
        events.settle()
    finally:
        events.stop()
    assert named == ["thumbs-x"]


def test_a_handler_that_keeps_failing_is_tried_three_times_then_kept(aws):
    s3 = _bucket(aws, "events-failing")
    sqs = client("sqs", aws.endpoint)
    failed = sqs.create_queue(QueueName="events-failed")["QueueUrl"]
    attempts = []

    def handler(event, context):
        attempts.append(threading.current_thread().name)
        raise RuntimeError("no")

    events = S3Events(
        aws.endpoint, "events-failing", handler, failed_queue_url=failed, max_receives=3
    ).start()
    try:
        s3.put_object(Bucket="events-failing", Key="x.jpg", Body=b"1")
        events.settle()
    finally:
        events.stop()
    assert len(attempts) == 3
    assert [repr(error) for error in events.failures] == ["RuntimeError('no')"]
    kept = sqs.receive_message(QueueUrl=failed)["Messages"]
    record = json.loads(kept[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"]["Records"][0]["s3"]["object"]["key"] == "x.jpg"


def test_an_asynchronous_invoke_of_the_function_reaches_the_handler(aws):
    _bucket(aws, "events-invoked")
    seen = []
    events = S3Events(aws.endpoint, "events-invoked", lambda e, c: seen.append(e)).start()
    try:
        events.invoke({"hello": "world"})
        events.settle()
    finally:
        events.stop()
    assert seen == [{"hello": "world"}]
