"""What the entry point takes for each shape it serves, field by field, and how it names
Zappa's schedule: each edit of an event as its source sends it is refused, with its reason."""

from __future__ import annotations

import copy
import re

import pytest

from app import entry
from app.config import ConfigError, Settings
from app.events import Upload, conversion_event
from embedded_aws.context import LambdaContext

from lambda_stage import API_HOST, FUNCTION_URL_HOST, ROOT, rest_event, url_event, zappa_cli
from support import s3_event

RUN = "thumbs_probe.run"
UPLOAD_KEY = "uploads/job-1/owner-1/photo.jpg"


def records(*records: dict) -> dict:
    return {"Records": list(records)}


S3_RECORD = s3_event("thumbs-dev-uploads", UPLOAD_KEY)["Records"][0]


def changed(path: str, value) -> dict:
    """Return the S3 record with the field at `path` (dotted) set to `value`."""
    record = copy.deepcopy(S3_RECORD)
    *parents, name = path.split(".")
    target = record
    for parent in parents:
        target = target[parent]
    target[name] = value
    return record


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (changed("eventSource", "aws:sqs"), "a record that is not S3's"),
        (changed("eventName", "ObjectRemoved:Delete"), "an S3 record of no ObjectCreated event"),
        (changed("eventName", None), "an S3 record of no ObjectCreated event"),
        (changed("awsRegion", "eu-west-1"), "an S3 record from another region"),
        (changed("s3.bucket.name", "thumbs-dev-results"), "an S3 record from another bucket"),
        (
            changed("s3.bucket.arn", "arn:aws:s3:::thumbs-dev-results"),
            "an S3 record from another bucket",
        ),
        (changed("s3.bucket", "thumbs-dev-uploads"), "an S3 record from another bucket"),
        (
            changed("s3.configurationId", f"thumbs-dev:{RUN}"),
            "an S3 record of another notification",
        ),
        (
            changed("s3.object.key", "uploads%2Fjob-1%2Fphoto.jpg"),
            "an S3 record of a key outside uploads/<job>/<owner>/",
        ),
        (changed("s3.object.key", 7), "an S3 record of a key outside uploads/<job>/<owner>/"),
        (changed("s3.object.size", "1000"), "an S3 record with no size"),
        (changed("s3.object.size", -1), "an S3 record with no size"),
        (changed("s3.object.size", True), "an S3 record with no size"),
        (changed("thumbsStartedBy", RUN), "an S3 record started by no one known"),
        ("not a record", "a record that is not S3's"),
    ],
)
def test_an_s3_record_is_served_only_for_the_stages_own_uploads(record, reason):
    with pytest.raises(entry.Refused, match=f"^{re.escape(reason)}$"):
        entry.recognise(records(record), Settings(stage="dev"), LambdaContext("thumbs-dev"))


def test_an_s3_record_as_s3_or_the_function_itself_sends_it_is_served():
    dev = Settings(stage="dev")
    started = conversion_event(Upload("thumbs-dev-uploads", "uploads/j/o/a b+.jpg", 1), "us-east-1")
    for event in (records(S3_RECORD), started, records(changed("s3.configurationId", None))):
        assert entry.recognise(event, dev, LambdaContext()) is entry.UploadsCreated
    for empty in ({"Records": []}, {"Records": {}}, {"Records": [S3_RECORD], "more": 1}):
        with pytest.raises(entry.Refused, match="not an S3 notification"):
            entry.recognise(empty, dev, LambdaContext())


@pytest.mark.parametrize("stage", ["dev", "production", "direct", "a" * 40])
@pytest.mark.parametrize("function", [entry.RECONCILER, "app.x." + "y" * 40])
def test_the_schedule_is_known_by_the_name_zappa_gives_its_rule(monkeypatch, stage, function):
    monkeypatch.chdir(ROOT)
    zappa = zappa_cli("dev").zappa
    expected = zappa.get_scheduled_event_name({}, function, f"thumbs-{stage}")
    assert entry.schedule_rule(f"thumbs-{stage}", function) == expected


@pytest.mark.parametrize("stage", ["dev", "production", "direct"])
def test_every_stage_names_the_entry_point_and_the_functions_it_runs(stage, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = zappa_cli(stage).stage_config
    assert config["lambda_handler"] == "app.entry.lambda_handler"
    functions = sorted(event["function"] for event in config["events"])
    assert functions == sorted([entry.WORKER, entry.RECONCILER])
    served_by = config["aws_environment_variables"].get("SERVED_BY", "api_gateway")
    url_only = config.get("function_url_enabled") and not config.get("apigateway_enabled", True)
    assert served_by == ("function_url" if url_only else "api_gateway")


def edited(event: dict, **fields) -> dict:
    """Return `event` with `fields` set (None: removed)."""
    event = copy.deepcopy(event)
    for name, value in fields.items():
        if value is None:
            event.pop(name, None)
        else:
            event[name] = value
    return event


REST = rest_event("GET", "/", "", {}, None, "dev", API_HOST)
URL = url_event("GET", "/", "", {}, None, FUNCTION_URL_HOST, [])


@pytest.mark.parametrize(
    ("event", "settings", "reason"),
    [
        (edited(REST, httpMethod=None), "dev", "not an event this stage serves"),
        (edited(REST, path=None), "dev", "a request without its method, path or headers"),
        (edited(REST, httpMethod=7), "dev", "a request with a field of another type"),
        (edited(REST, headers=None), "dev", "a request without its method, path or headers"),
        (edited(REST, headers=["Host"]), "dev", "a request with a field of another type"),
        (edited(REST, body=7), "dev", "a request with a field of another type"),
        (edited(REST, isBase64Encoded="true"), "dev", "a request with a field of another type"),
        (edited(REST, path="jobs"), "dev", "a request without an absolute path"),
        (edited(REST, version="1.0"), "dev", "not a REST API request"),
        (REST, "direct", "a REST API request on a stage served by a function URL"),
        (edited(URL, cookies="thumbs=x"), "direct", "a request with a field of another type"),
        (edited(URL, rawPath=None), "direct", "a request without its method, path or headers"),
        (edited(URL, routeKey="GET /"), "direct", "an HTTP API request, not a function URL's"),
        (URL, "dev", "a payload 2.0 request on a stage served by API Gateway"),
    ],
)
def test_a_request_is_served_only_as_the_stages_way_in_sends_it(event, settings, reason):
    served_by = "function_url" if settings == "direct" else "api_gateway"
    stage = Settings(stage=settings, served_by=served_by)
    with pytest.raises(entry.Refused, match=f"^{re.escape(reason)}"):
        entry.recognise(event, stage, LambdaContext())


def test_a_request_as_the_stages_way_in_sends_it_is_served():
    dev, direct = Settings(stage="dev"), Settings(stage="direct", served_by="function_url")
    assert entry.recognise(REST, dev, LambdaContext()) is entry.RestRequest
    assert entry.recognise(URL, direct, LambdaContext()) is entry.FunctionUrlRequest


def test_a_way_in_the_entry_point_does_not_know_is_refused_at_once():
    with pytest.raises(ConfigError, match="SERVED_BY is 'function-url': set it to api_gateway"):
        Settings.from_env({"STAGE": "direct", "SERVED_BY": "function-url"})
