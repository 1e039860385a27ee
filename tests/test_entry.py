"""The function's one entry point, called as Lambda calls it (the stage's `lambda_handler`
setting), with Zappa's real handler behind it, on moto: what the stage serves runs; every
other shape Zappa's handler knows is refused before anything runs, with one log line and a
metric. Each event carries what Zappa's handler would act on: a probe module to import and
run, stage variables to put in the environment."""

from __future__ import annotations

import copy
import json
import os
import sys

import pytest
import zappa.handler

from app import entry
from app.events import Upload, conversion_event
from app.jobs import DONE
from embedded_aws.context import LambdaContext

from deployed import upload_photo
from lambda_stage import (
    API_HOST,
    FUNCTION_URL_HOST,
    rest_event,
    scheduled_event,
    url_event,
)
from support import s3_event

PROBE = "thumbs_probe"  # imported, it marks the environment; run, it marks it again
RUN = f"{PROBE}.run"
STAGE_VARIABLES = {"stageVariables": {"THUMBS_PROBE_STAGE_VARIABLE": "set"}}
OWN_RULE = "thumbs-dev-app.reconciler.handle_schedule"
UPLOAD_KEY = "uploads/job-1/owner-1/photo.jpg"


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """A module on the path that marks the environment when imported and when run."""
    (tmp_path / f"{PROBE}.py").write_text(
        "import os\n"
        "os.environ['THUMBS_PROBE_IMPORTED'] = 'yes'\n"
        "def run(*args):\n"
        "    os.environ['THUMBS_PROBE_RAN'] = 'yes'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop(PROBE, None)


def http_api_event(stage: str | None) -> dict:
    """An API Gateway HTTP API request (payload 2.0), with a stage or none at all."""
    event = url_event("GET", f"/{stage}/" if stage else "/", "", {}, None, API_HOST, [])
    event["routeKey"] = "ANY /{proxy+}"
    if stage:
        event["requestContext"]["stage"] = stage
    else:
        del event["requestContext"]["stage"]
    return event


def records(*records: dict) -> dict:
    return {"Records": list(records)}


def sns(message: dict) -> dict:
    topic = "arn:aws:sns:us-east-1:123456789012:thumbs-dev"
    return {"EventSource": "aws:sns", "Sns": {"TopicArn": topic, "Message": json.dumps(message)}}


def stream(source: str, arn: str, data: dict) -> dict:
    return {"eventSource": f"aws:{source}", "eventSourceARN": arn, **data}


# Every shape Zappa's handler knows, as it would reach the dev stage, and the kind the refusal
# names: HTTP, schedules, commands, records, and the triggers this function has none of.
REFUSED_ON_DEV = {
    "payload 2.0 from a function URL": (
        url_event("GET", "/", "", {}, None, FUNCTION_URL_HOST, []),
        "http_v2",
    ),
    "payload 2.0 with a stage": (http_api_event("dev"), "http_v2"),
    "payload 2.0 without a stage": (http_api_event(None), "http_v2"),
    "payload 1.0 for another stage": (
        rest_event("GET", "/", "", {}, None, "production", API_HOST),
        "rest",
    ),
    "payload 1.0 beside a raw_command": (
        {**rest_event("GET", "/", "", {}, None, "dev", API_HOST), "raw_command": "import os"},
        "raw_command",
    ),
    "ALB": (
        {
            "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:tg"}},
            "httpMethod": "GET",
            "path": "/",
            "headers": {"host": "thumbs.example.com"},
            "body": "",
            "isBase64Encoded": False,
        },
        "alb",
    ),
    "WebSocket": (
        {
            "requestContext": {
                "routeKey": "$connect",
                "eventType": "CONNECT",
                "connectionId": "abc=",
                "domainName": "ws.example.com",
                "stage": "dev",
            },
            "isBase64Encoded": False,
        },
        "websocket",
    ),
    "a schedule from another rule": (scheduled_event(f"thumbs-dev-{RUN}"), "schedule"),
    "its own rule's schedule from another account": (
        scheduled_event(OWN_RULE, account="210987654321"),
        "schedule",
    ),
    "command": ({"command": RUN}, "command"),
    "raw_command": ({"raw_command": f"import {PROBE}; {PROBE}.run()"}, "raw_command"),
    "manage": ({"manage": "migrate"}, "manage"),
    "S3 from another bucket": (s3_event("thumbs-dev-results", UPLOAD_KEY), "s3"),
    "S3 under another prefix": (s3_event("thumbs-dev-uploads", "elsewhere/j/o/x.jpg"), "s3"),
    "S3 under uploads/ but no job's": (s3_event("thumbs-dev-uploads", "uploads/x.jpg"), "s3"),
    "S3 whose configurationId names a function": (
        s3_event("thumbs-dev-uploads", UPLOAD_KEY, function_name=f"thumbs-dev:{RUN}"),
        "s3",
    ),
    "S3 ObjectRemoved": (
        s3_event("thumbs-dev-uploads", UPLOAD_KEY, name="ObjectRemoved:Delete"),
        "s3",
    ),
    "S3, one record of two from another bucket": (
        records(
            *s3_event("thumbs-dev-uploads", UPLOAD_KEY)["Records"],
            *s3_event("thumbs-dev-results", UPLOAD_KEY)["Records"],
        ),
        "s3",
    ),
    "SNS naming a command": (records(sns({"command": RUN})), "sns"),
    "SQS": (
        records(
            stream(
                "sqs",
                "arn:aws:sqs:us-east-1:123456789012:thumbs-dev-failed-events",
                {"body": json.dumps(s3_event("thumbs-dev-uploads", UPLOAD_KEY))},
            )
        ),
        "sqs",
    ),
    "DynamoDB": (
        records(
            stream(
                "dynamodb",
                "arn:aws:dynamodb:us-east-1:123456789012:table/thumbs-dev-jobs/stream/1",
                {"dynamodb": {"Keys": {"job_id": {"S": "job-1"}}}},
            )
        ),
        "dynamodb",
    ),
    "Kinesis": (
        records(
            stream(
                "kinesis",
                "arn:aws:kinesis:us-east-1:123456789012:stream/thumbs",
                {"kinesis": {"data": "e30="}},
            )
        ),
        "kinesis",
    ),
    "Lex bot": (
        {
            "bot": {"name": "thumbs"},
            "currentIntent": {"name": "convert"},
            "invocationSource": "FulfillmentCodeHook",
        },
        "lex",
    ),
    "TOKEN authorizer": (
        {"type": "TOKEN", "authorizationToken": "x", "methodArn": "arn:aws:execute-api:x"},
        "authorizer",
    ),
    "Cognito trigger": (
        {"triggerSource": "PreSignUp_SignUp", "userPoolId": "us-east-1_x", "request": {}},
        "cognito",
    ),
    "CloudWatch Logs": ({"awslogs": {"data": "H4sIAAAAAAAAAAMAAAAAAAAAAAA="}}, "awslogs"),
    "s3:TestEvent": (
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "thumbs-dev-uploads"},
        "s3_test_event",
    ),
    "{}": ({}, "empty"),
}
NOT_OBJECTS = {"a list": [], "a string": "raw_command", "null": None, "a number": 7}


def refused_cleanly(deployed, event, function_log) -> dict:
    """Send `event`; check nothing ran, nothing was set or imported; return its one line."""
    environment = dict(os.environ)
    function_log.lines()
    reply = deployed.handler(event, LambdaContext("thumbs-dev"))
    assert reply["statusCode"] == 400 and "does not serve" in reply["body"]
    assert dict(os.environ) == environment  # no stage variable, no probe's mark
    assert PROBE not in sys.modules
    # Refused before Zappa's handler started: no app built, no settings module read.
    assert zappa.handler.LambdaHandler._LambdaHandler__instance is None
    assert "wsgi" not in sys.modules
    (line,) = function_log.lines()
    return json.loads(line)


@pytest.mark.parametrize("name", REFUSED_ON_DEV)
def test_every_other_shape_is_refused_running_nothing_with_one_line_and_a_metric(
    deployed, probe, function_log, name
):
    event, shape = REFUSED_ON_DEV[name]
    line = refused_cleanly(deployed, {**copy.deepcopy(event), **STAGE_VARIABLES}, function_log)
    assert (line["event"], line["level"], line["shape"], line["stage"]) == (
        "event_refused",
        "WARNING",
        shape,
        "dev",
    )
    assert line["refused_events"] == 1 and line["aws_request_id"]
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Metrics"] == [{"Name": "refused_events", "Unit": "Count"}]
    assert directive["Dimensions"] == [["stage"], ["stage", "shape"]]


@pytest.mark.parametrize("name", NOT_OBJECTS)
def test_an_event_that_is_no_object_is_refused(deployed, function_log, name):
    line = refused_cleanly(deployed, NOT_OBJECTS[name], function_log)
    assert (line["shape"], line["reason"]) == ("not_an_object", "not a JSON object")


# The events of which Zappa's own handler imports and runs the probe: what the entry point
# keeps from it (and proof that the probe would tell).
RUN_BY_ZAPPA = [
    "a schedule from another rule",
    "command",
    "raw_command",
    "S3 whose configurationId names a function",
    "SNS naming a command",
]


@pytest.mark.parametrize("name", RUN_BY_ZAPPA)
def test_zappas_own_handler_would_run_what_the_event_names(deployed, probe, name):
    event, _ = REFUSED_ON_DEV[name]
    zappa.handler.lambda_handler({**copy.deepcopy(event), **STAGE_VARIABLES}, LambdaContext())
    assert os.environ.get("THUMBS_PROBE_RAN") == "yes"
    assert os.environ.get("THUMBS_PROBE_STAGE_VARIABLE") == "set"


REFUSED_ON_DIRECT = {
    "payload 1.0 from a REST API": rest_event("GET", "/", "", {}, None, "direct", API_HOST),
    "payload 2.0 with a stage": http_api_event("direct"),
    "payload 2.0 without a stage": http_api_event(None),
    "payload 2.0 from another region's function URL": url_event(
        "GET", "/", "", {}, None, FUNCTION_URL_HOST.replace("us-east-1", "eu-west-1"), []
    ),
    "its function URL's request beside a command": {
        **url_event("GET", "/", "", {}, None, FUNCTION_URL_HOST, []),
        "command": RUN,
    },
}


@pytest.mark.parametrize("name", REFUSED_ON_DIRECT)
def test_the_direct_stage_serves_its_function_url_only(deployed_direct, probe, function_log, name):
    event = {**copy.deepcopy(REFUSED_ON_DIRECT[name]), **STAGE_VARIABLES}
    line = refused_cleanly(deployed_direct, event, function_log)
    assert line["event"] == "event_refused" and line["stage"] == "direct"


def test_a_served_request_sets_no_stage_variable_and_passes_only_a_requests_fields(deployed):
    event = {
        **rest_event("GET", "/healthz", "", {}, None, "dev", API_HOST),
        **STAGE_VARIABLES,
        "Records": [],  # what Zappa's handler would dispatch on next, were it handed on
    }
    seen = []
    zappa.handler.LambdaHandler()  # the cold start, so that the app can be watched
    sys.modules["wsgi"].app.before_request(lambda: seen.append(dict(_lambda_event())))
    reply = deployed.handler(event, LambdaContext("thumbs-dev"))
    assert reply["statusCode"] == 200
    assert "THUMBS_PROBE_STAGE_VARIABLE" not in os.environ
    (given,) = seen
    assert given == {k: v for k, v in event.items() if k in entry.RestRequest.FIELDS}


def _lambda_event() -> dict:
    from flask import request

    return request.environ["lambda.event"]


def test_its_own_schedule_runs_the_reconciler(deployed, monkeypatch, capsys):
    deployed.s3().put_object(
        Bucket=deployed.settings.uploads_bucket, Key="uploads/lost/owner/lost.jpg", Body=b"x"
    )
    monkeypatch.setenv("DELAYED_AFTER_SECONDS", "0")
    capsys.readouterr()
    assert deployed.handler(scheduled_event(OWN_RULE), LambdaContext("thumbs-dev")) is None
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [(x["event"], x["job_id"]) for x in lines] == [("job_recovered", "lost")]
    assert "wsgi" not in sys.modules  # the schedule builds no web app


def test_a_conversion_the_function_starts_itself_reaches_the_worker(deployed):
    """The reconciler, Try again and a replay invoke the function with `conversion_event`,
    which names no notification: Zappa's own handler failed on it (KeyError)."""
    browser = deployed.browser()
    _, landed, key = upload_photo(browser)
    size = deployed.s3().head_object(Bucket=deployed.settings.uploads_bucket, Key=key)
    event = conversion_event(
        Upload(deployed.settings.uploads_bucket, key, size["ContentLength"], started_by="retry"),
        "us-east-1",
    )
    with pytest.raises(KeyError):
        zappa.handler.lambda_handler(copy.deepcopy(event), LambdaContext("thumbs-dev"))
    assert deployed.handler(event, LambdaContext("thumbs-dev")) is None
    status = browser.get(landed.header("Location") + "/status").json()
    assert status["status"] == DONE
