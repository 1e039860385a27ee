"""Count every request the embedded AWS serves, by service and operation, as AWS bills them.

AWS prices most services per request of a kind: S3 per PUT, POST, LIST or GET; DynamoDB per
read or write; Lambda per invocation. `Counter` wraps the whole server and names each
request's service and operation from the request alone, as AWS would:
- S3 (REST): the method, the sub-resource in the query, and whether a key is named;
- JSON protocols (DynamoDB, SQS, CloudWatch Logs...): the `X-Amz-Target` header;
- query protocols (STS, IAM...): the `Action` parameter;
- Lambda (REST-JSON): Invoke by its path.

`GET /__embedded_aws__/counts` answers `{"service": {"Operation": n}}`; with `?reset=1` it
also starts the counts again, and so does `DELETE`. Requests of the embedded AWS itself (its
event pump's queue; a client whose user agent holds `INTERNAL_AGENT`) are not AWS's work in
the cloud, so they are left out.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections import Counter as Tally
from urllib.parse import parse_qs

PATH = "/__embedded_aws__/counts"
# A client of the embedded AWS's own machinery sets this in its user agent (botocore's
# user_agent_extra): S3 delivers its events to Lambda with no call anyone pays for.
INTERNAL_AGENT = "embedded-aws-internal"
_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/(?P<service>[^/]+)/aws4_request")
_INVOKE = re.compile(r"^/2015-03-31/functions/[^/]+/invocations/?$")
# S3 sub-resources, each its own operation (GET ?cors is GetBucketCors, PUT ?cors PutBucketCors).
_S3_SUBRESOURCES = {
    "cors": "BucketCors",
    "lifecycle": "BucketLifecycleConfiguration",
    "notification": "BucketNotificationConfiguration",
    "policy": "BucketPolicy",
    "publicAccessBlock": "PublicAccessBlock",
    "encryption": "BucketEncryption",
    "ownershipControls": "BucketOwnershipControls",
    "versioning": "BucketVersioning",
    "tagging": "BucketTagging",
    "acl": "BucketAcl",
    "location": "BucketLocation",
}
_S3_OBJECT = {
    "GET": "GetObject",
    "HEAD": "HeadObject",
    "PUT": "PutObject",
    "DELETE": "DeleteObject",
}
_S3_BUCKET = {"HEAD": "HeadBucket", "PUT": "CreateBucket", "DELETE": "DeleteBucket"}


def classify(environ) -> tuple[str, str]:
    """Return the service and operation a request asks for, as AWS would bill it."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    service = _service(environ)
    if target:
        return service, target.rpartition(".")[2]
    path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
    if _INVOKE.match(path):
        return "lambda", "Invoke"
    action = _query_action(environ)
    if action:
        return service, action
    if service == "s3":
        return service, _s3_operation(method, path, parse_qs(environ.get("QUERY_STRING", ""), True))
    return service, f"{method} {'/'.join(path.split('/')[:3])}"


def _service(environ) -> str:
    """Name the service from the signature's scope; an unsigned request is S3's (a browser's
    form, a presigned link's signature names its scope in the query)."""
    scope = environ.get("HTTP_AUTHORIZATION", "") or environ.get("QUERY_STRING", "")
    found = _CREDENTIAL.search(scope.replace("%2F", "/"))
    return found.group("service") if found else "s3"


def _query_action(environ) -> str | None:
    """Return a query-protocol call's Action, from the query or a form body (put back after)."""
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return None
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)
    return parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]


def _s3_operation(method: str, path: str, query: dict) -> str:
    bucket, _, key = path.lstrip("/").partition("/")
    asked = [name for name in query if not name.startswith(("X-Amz-", "x-id", "response-"))]
    if method == "OPTIONS":
        return "PreflightRequest"
    if key:
        if method == "POST":
            return "CreateMultipartUpload" if "uploads" in asked else "ObjectPost"
        return _S3_OBJECT.get(method, method)
    if method == "POST":
        return "DeleteObjects" if "delete" in asked else "PostObject"
    if not bucket:
        return "ListBuckets"
    for name in asked:
        if name in _S3_SUBRESOURCES:
            verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method)
            return verb + _S3_SUBRESOURCES[name]
    if method == "GET":
        return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
    return _S3_BUCKET.get(method, method)


class Counter:
    """WSGI middleware: count each request by service and operation; serve the counts."""

    def __init__(self, app):
        self.app = app
        self._lock = threading.Lock()
        self._counts: Tally = Tally()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == PATH:
            return self._answer(environ, start_response)
        if INTERNAL_AGENT not in environ.get("HTTP_USER_AGENT", "") and not environ.get(
            "PATH_INFO", ""
        ).startswith("/__"):
            counted = classify(environ)
            with self._lock:
                self._counts[counted] += 1
        return self.app(environ, start_response)

    def counts(self, reset: bool = False) -> dict[str, dict[str, int]]:
        """Return the counts so far, `{"service": {"Operation": n}}`; with `reset`, start again."""
        with self._lock:
            found: dict[str, dict[str, int]] = {}
            for (service, operation), n in sorted(self._counts.items()):
                found.setdefault(service, {})[operation] = n
            if reset:
                self._counts.clear()
        return found

    def _answer(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        reset = method == "DELETE" or "reset" in parse_qs(environ.get("QUERY_STRING", ""))
        if method not in ("GET", "DELETE"):
            start_response("405 Method Not Allowed", [("Allow", "GET, DELETE")])
            return [b""]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(self.counts(reset)).encode()]
