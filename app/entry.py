"""The function's one entry point: the few events this stage serves, each recognised strictly.

Lambda calls `lambda_handler` (Zappa's `lambda_handler` setting), not Zappa's own handler,
which serves whatever an event names: it runs a `raw_command` event's Python with exec(), the
function a `command` event, an S3 record's `configurationId`, an SNS message's `command` or a
scheduled event's rule names, and it copies any event's `stageVariables` into the environment.
Whoever may invoke the function could run code with its role.

So, as Mangum's adapter does, a short list of shapes (`SHAPES`) each claims the events that
look like it, then holds them to what this stage serves:
- an HTTP request: API Gateway's REST event (payload 1.0) on a stage `served_by` API Gateway,
  a function URL's (payload 2.0) on a stage served by one;
- S3's ObjectCreated records for the stage's own uploads bucket, under uploads/<job>/<owner>/;
- the stage's own schedule, from its own rule.
The shape then runs the one function it stands for: the site, through Zappa's handler, given a
copy of the request with only a request's fields; the worker; the reconciler. The event never
chooses it. Anything else is refused before anything runs (no variable set, nothing imported,
no app built): one `event_refused` line, whose `refused_events` is a metric, and a 400.
"""

from __future__ import annotations

import hashlib
import logging

# Imported with this module: with INSTANTIATE_LAMBDA_HANDLER_ON_IMPORT (production's SnapStart)
# Zappa builds the app here, before the snapshot, as it did when Lambda called it directly.
import zappa.handler

from . import logs
from .config import Settings
from .events import ForeignEvent, stage_uploads

logger = logging.getLogger(__name__)
# Zappa's access line names each request's path, which holds a ticket or a share token; the
# app's own `request` line (its endpoint, never its path) replaces it.
logging.getLogger("zappa.wsgi").setLevel(logging.WARNING)

WORKER = "app.worker.handle_s3_event"
RECONCILER = "app.reconciler.handle_schedule"
REFUSED_METRICS = {"refused_events": "Count"}
# Zappa's handler runs what these keys name, whatever else the event holds.
COMMANDS = ("raw_command", "command", "manage")
NONE = type(None)


class Refused(Exception):
    """The event is not one this stage serves; the message says which check it failed (from a
    fixed set of sentences: nothing of the event itself is ever logged)."""


def lambda_handler(event, context):
    """Run what this stage serves for `event`; refuse anything else, running nothing."""
    settings = Settings.from_env()
    try:
        shape = recognise(event, settings, context)
    except Refused as refusal:
        return refuse(event, context, settings, str(refusal))
    return shape.run(event, context)


def recognise(event, settings: Settings, context):
    """Return the shape that serves `event` on this stage; raise Refused for any other."""
    if not isinstance(event, dict):
        raise Refused("not a JSON object")
    if any(key in event for key in COMMANDS):
        raise Refused("names a command")
    for shape in SHAPES:
        if shape.claims(event):
            shape.check(event, settings, context)
            return shape
    raise Refused("not an event this stage serves")


def refuse(event, context, settings: Settings, reason: str) -> dict:
    """Log one line (a metric) about a refused event, and answer 400."""
    logs.setup()
    logs.invocation(context)
    logs.event(
        logger,
        "event_refused",
        logging.WARNING,
        reason=reason,
        refused_events=1,
        # The stage and the event's kind (from a fixed set): the metric's dimensions.
        **logs.metrics({"stage": settings.stage, "shape": describe(event)}, REFUSED_METRICS),
    )
    return {
        "statusCode": 400,
        "headers": {"Content-Type": "text/plain; charset=utf-8"},
        "body": "This function does not serve this event.",
    }


class _Request:
    """A request through the stage's way in: the site, through Zappa's handler, given a copy
    of it with only the fields a request has (no `stageVariables`: nothing an event holds goes
    into the environment)."""

    # What Zappa's handler reads of a request of either payload, with the types AWS sends.
    FIELDS = {
        "headers": (dict,),
        "queryStringParameters": (dict, NONE),
        "pathParameters": (dict, NONE),
        "requestContext": (dict,),
        "body": (str, NONE),
        "isBase64Encoded": (bool,),
    }
    PATH = "path"

    @classmethod
    def check_fields(cls, event: dict) -> None:
        """Raise Refused unless the request has its path, headers and context, each field of
        the type AWS sends, and an absolute path."""
        if any(name not in event for name in (cls.PATH, "headers", "requestContext")):
            raise Refused("a request without its method, path or headers")
        if any(not isinstance(event[n], kinds) for n, kinds in cls.FIELDS.items() if n in event):
            raise Refused("a request with a field of another type than Lambda sends")
        if not event[cls.PATH].startswith("/"):
            raise Refused("a request without an absolute path")

    @classmethod
    def run(cls, event: dict, context):
        return zappa.handler.lambda_handler(_only(event, cls.FIELDS), context)


class RestRequest(_Request):
    """A request through the stage's REST API (API Gateway's proxy event, payload 1.0)."""

    FIELDS = {
        **_Request.FIELDS,
        "resource": (str,),
        "path": (str,),
        "httpMethod": (str,),
        "multiValueHeaders": (dict, NONE),
        "multiValueQueryStringParameters": (dict, NONE),
    }

    @staticmethod
    def claims(event: dict) -> bool:
        return "httpMethod" in event

    @classmethod
    def check(cls, event: dict, settings: Settings, context) -> None:
        if settings.served_by != "api_gateway":
            raise Refused("a REST API request on a stage served by a function URL")
        if "version" in event or _field(event, "requestContext", "elb") is not None:
            raise Refused("not a REST API request")
        if _field(event, "requestContext", "stage") != settings.stage:
            raise Refused("a request for another stage")
        cls.check_fields(event)


class FunctionUrlRequest(_Request):
    """A request through the stage's function URL (payload 2.0, no stage, no route)."""

    FIELDS = {
        **_Request.FIELDS,
        "version": (str,),
        "routeKey": (str,),
        "rawPath": (str,),
        "rawQueryString": (str,),
        "cookies": (list, NONE),
    }
    PATH = "rawPath"

    @staticmethod
    def claims(event: dict) -> bool:
        return event.get("version") == "2.0"

    @classmethod
    def check(cls, event: dict, settings: Settings, context) -> None:
        if settings.served_by != "function_url":
            raise Refused("a payload 2.0 request on a stage served by API Gateway")
        # A function URL fills the fields of API Gateway's features with "$default".
        stage, domain = (_field(event, "requestContext", k) for k in ("stage", "domainName"))
        url = f".lambda-url.{settings.aws_region}.on.aws"
        if (event.get("routeKey"), stage) != ("$default", "$default") or not (
            isinstance(domain, str) and domain.endswith(url)
        ):
            raise Refused("an HTTP API request, not a function URL's")
        if not isinstance(_field(event, "requestContext", "http", "method"), str):
            raise Refused("a request without a method")
        cls.check_fields(event)


class UploadsCreated:
    """S3's ObjectCreated records for the stage's uploads (or the same, sent by the reconciler,
    Try again or a replay): the worker."""

    @staticmethod
    def claims(event: dict) -> bool:
        return "Records" in event

    @staticmethod
    def check(event: dict, settings: Settings, context) -> None:
        try:
            stage_uploads(event, settings)
        except ForeignEvent as error:
            raise Refused(str(error)) from None

    @staticmethod
    def run(event: dict, context):
        from .worker import handle_s3_event

        return handle_s3_event(event, context)


class Schedule:
    """The stage's own scheduled event (Zappa's rule for the reconciler): the reconciler."""

    @staticmethod
    def claims(event: dict) -> bool:
        return event.get("detail-type") == "Scheduled Event"

    @staticmethod
    def check(event: dict, settings: Settings, context) -> None:
        arn = getattr(context, "invoked_function_arn", None)
        account = arn.split(":")[4] if isinstance(arn, str) and arn.count(":") >= 6 else None
        rule = schedule_rule(settings.function_name, RECONCILER)
        wanted = f"arn:aws:events:{settings.aws_region}:{account}:rule/{rule}"
        if event.get("source") != "aws.events" or event.get("resources") != [wanted]:
            raise Refused("a scheduled event of another rule")
        if (event.get("account"), event.get("region")) != (account, settings.aws_region):
            raise Refused("a scheduled event of another account or region")

    @staticmethod
    def run(event: dict, context):
        from .reconciler import handle_schedule

        return handle_schedule(event, context)


SHAPES = (FunctionUrlRequest, RestRequest, UploadsCreated, Schedule)


def schedule_rule(function_name: str, function: str) -> str:
    """Return the name Zappa 0.63 gives the rule that schedules `function` on the function
    `function_name` (its `get_scheduled_event_name`, for an event with no name of its own)."""
    name = _rule_name(function_name, function)
    if len(name) >= 64:  # Zappa then names the rule after a digest of the function's name
        name = _rule_name(hashlib.sha1(function_name.encode()).hexdigest(), function)
    return name


def _rule_name(prefix: str, function: str) -> str:
    return f"{prefix[: max(0, 63 - len(function))]}-{function}"[:64]


def describe(event) -> str:
    """Name an event's kind, from a fixed vocabulary (a metric's dimension: few values)."""
    if not isinstance(event, dict):
        return "not_an_object"
    for key in COMMANDS:
        if key in event:
            return key
    if not set(event) - {"stageVariables"}:  # which Zappa's handler applies to any event
        return "empty"
    if event.get("version") == "2.0":
        return "http_v2"
    if "httpMethod" in event:
        return "alb" if _field(event, "requestContext", "elb") is not None else "rest"
    if _field(event, "requestContext", "eventType") is not None:
        return "websocket"
    if event.get("detail-type") == "Scheduled Event":
        return "schedule"
    if "Records" in event:
        return _record_kind(event["Records"])
    for key, kind in (("bot", "lex"), ("triggerSource", "cognito"), ("awslogs", "awslogs")):
        if key in event:
            return kind
    if event.get("type") == "TOKEN":
        return "authorizer"
    if event.get("Event") == "s3:TestEvent":
        return "s3_test_event"
    return "other"


def _record_kind(records) -> str:
    record = records[0] if isinstance(records, list) and records else None
    record = record if isinstance(record, dict) else {}
    for key in ("s3", "Sns", "dynamodb", "kinesis"):  # how Zappa's handler tells them apart
        if key in record:
            return key.lower()
    return "sqs" if record.get("eventSource") == "aws:sqs" else "records"


def _field(value, *path):
    """Return the value at `path` in nested objects, or None where any step is missing."""
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _only(event: dict, fields: tuple[str, ...]) -> dict:
    """Return a copy of `event` with only `fields`: nothing else reaches Zappa's handler."""
    return {name: event[name] for name in fields if name in event}
