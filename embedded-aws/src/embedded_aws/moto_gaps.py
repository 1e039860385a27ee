"""What moto 5.2.5 lacks or gets wrong of the calls Zappa 0.63 makes, answered as AWS documents.

`make rehearse` runs Zappa's own `deploy`, `status`, `update` and `undeploy` against the
embedded AWS. Four of their calls meet a gap in moto; each is filled here, after the AWS
page named beside it, so the rehearsal's logs are clean and `undeploy` leaves what AWS leaves:

- Lambda ListFunctionUrlConfigs: moto has no route (a 404 HTML page); `zappa update` calls
  it on every update and tolerates only AccessDenied.
- Lambda AddPermission: moto answers 200 where AWS answers 201; Zappa logs a false error.
  (GetFunctionUrlConfig, the other way round: moto answers 201 where AWS answers 200.)
- API Gateway UpdateRestApi: a `binaryMediaTypes` patch names the type in its path, with no
  value; moto records `''` instead of the type (`*/*` for Zappa's binary support).
- CloudFormation DeleteStack: moto leaves the stack's `AWS::ApiGateway::RestApi` behind.

The last two patch moto's API Gateway models, which need packages only the test lock holds
(`openapi-spec-validator`): they are applied when the first API Gateway or CloudFormation call
arrives, so `make run`, which serves neither, starts from its own lock alone.

One more concerns bucket policies: moto holds object requests to a bucket's policy, but with
no request context, and takes any statement whose condition fails for a Deny, whatever its
effect. A bucket whose policy says "deny every request without TLS" would then refuse every
object request, TLS or not; such statements are left out of moto's check (see `install`).
"""

from __future__ import annotations

import io
import json
import re
from http import HTTPStatus
from urllib.parse import quote

# The credential scope of a SigV4 Authorization header: Credential=KEY/DATE/REGION/SERVICE/...
_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/[^/,]+/(?P<service>[^/,]+)/aws4_request")
# GET /2021-10-31/functions/{FunctionName}/urls (AWS Lambda API reference,
# ListFunctionUrlConfigs, Request Syntax).
_URL_CONFIGS = re.compile(r"^/2021-10-31/functions/(?P<function>[^/]+)/urls/?$")
# POST /2015-03-31/functions/{FunctionName}/policy (AWS Lambda API reference, AddPermission).
_POLICY = re.compile(r"^/2015-03-31/functions/[^/]+/policy/?$")
# GET /2021-10-31/functions/{FunctionName}/url (AWS Lambda API reference, GetFunctionUrlConfig).
_URL_CONFIG = re.compile(r"^/2021-10-31/functions/[^/]+/url/?$")
# PATCH /restapis/{restapi_id} (Amazon API Gateway REST API reference, UpdateRestApi).
_REST_API = re.compile(r"^/restapis/[^/]+/?$")
_BINARY_MEDIA_TYPES = "/binaryMediaTypes/"
# The services whose calls may make or delete a REST API (Zappa's stack makes it).
_NEED_REST_API_PATCH = frozenset({"apigateway", "cloudformation"})
# ListFunctionUrlConfigs, Response Syntax: the fields of each FunctionUrlConfig.
_URL_CONFIG_FIELDS = (
    "AuthType",
    "Cors",
    "CreationTime",
    "FunctionArn",
    "FunctionUrl",
    "InvokeMode",
    "LastModifiedTime",
)


class MotoGaps:
    """WSGI middleware in front of moto: the calls above, answered as AWS answers them."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        service, method = _service(environ), environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if service == "lambda" and method == "GET" and (match := _URL_CONFIGS.match(path)):
            return self._list_function_url_configs(environ, start_response, match["function"])
        if service == "lambda" and method == "POST" and _POLICY.match(path):
            # AddPermission, Response Syntax: "HTTP/1.1 201".
            return self.app(environ, _status(start_response, 200, "201 Created"))
        if service == "lambda" and method == "GET" and _URL_CONFIG.match(path):
            # GetFunctionUrlConfig, Response Syntax: "HTTP/1.1 200".
            return self.app(environ, _status(start_response, 201, "200 OK"))
        if service in _NEED_REST_API_PATCH:
            install_rest_api_deletion()
        if service == "apigateway" and method == "PATCH" and _REST_API.match(path):
            _name_binary_media_types(environ)
        return self.app(environ, start_response)

    def _list_function_url_configs(self, environ, start_response, function: str):
        """ListFunctionUrlConfigs: the function's URL configurations (moto keeps one at most).

        AWS answers `{"FunctionUrlConfigs": [...]}`, an empty list for a function without a
        URL, and ResourceNotFoundException for a function that does not exist.
        """
        # Asked through this middleware, so moto's answers are corrected as any caller's are.
        status, headers, body = self._call(environ, "GET", f"/2015-03-31/functions/{function}")
        if status != 200:  # no such function: moto's own ResourceNotFoundException
            return _respond(start_response, status, headers, body)
        status, headers, body = self._call(environ, "GET", f"/2021-10-31/functions/{function}/url")
        if status == 200:
            configs = [_url_config(json.loads(body))]
        elif status == 404:
            configs = []
        else:
            return _respond(start_response, status, headers, body)
        answer = json.dumps({"FunctionUrlConfigs": configs}).encode()
        return _respond(start_response, 200, [("Content-Type", "application/json")], answer)

    def _call(self, environ, method: str, path: str) -> tuple[int, list, bytes]:
        """Ask moto `method path` with the caller's headers; return status, headers, body."""
        inner = dict(environ)
        raw = quote(path, safe="/")
        inner.update(
            REQUEST_METHOD=method,
            PATH_INFO=path,
            RAW_URI=raw,
            REQUEST_URI=raw,
            QUERY_STRING="",
            CONTENT_LENGTH="0",
        )
        inner["wsgi.input"] = io.BytesIO(b"")
        answered = {}

        def start(status, headers, exc_info=None):
            answered["status"], answered["headers"] = int(status.split()[0]), headers

        body = b"".join(self(inner, start))
        return answered["status"], answered["headers"], body


def install() -> None:
    """Patch moto's models where a gap is in the model, not the HTTP answer (idempotent).

    The API Gateway patch waits for the first call that needs it (`install_rest_api_deletion`).
    """
    _store_function_url_conditions()
    _leave_out_conditional_bucket_statements()


def install_rest_api_deletion() -> None:
    """Let deleting a CloudFormation stack delete its REST API, as AWS does (idempotent)."""
    from moto.apigateway.models import RestAPI, apigateway_backends

    if "delete" in vars(RestAPI):
        return

    # AWS CloudFormation User Guide, "DeletionPolicy attribute": "By default, CloudFormation
    # deletes the resource and all its content if it has no DeletionPolicy attribute." Zappa's
    # stack gives its RestApi none, so deleting the stack deletes the API, its resources,
    # methods, deployments and stages. moto's stack deletion calls `delete` on each resource.
    def delete(self, account_id: str, region_name: str) -> None:
        apigateway_backends[account_id][region_name].delete_rest_api(self.id)

    RestAPI.delete = delete


def _store_function_url_conditions() -> None:
    """Keep AddPermission's FunctionUrlAuthType and InvokedViaFunctionUrl as AWS keeps them.

    AWS Lambda Developer Guide, "Control access to function URLs": a statement added with
    them holds `"Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}` and
    `"Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}`. moto leaves them as
    top-level keys of the statement, where no condition check would look.
    """
    from moto.awslambda.policy import Policy

    if getattr(Policy.decode_policy, "embedded_aws", False):
        return
    decode = Policy.decode_policy

    def decode_policy(self, obj):
        conditions = {}
        if "FunctionUrlAuthType" in obj:
            conditions["StringEquals"] = {
                "lambda:FunctionUrlAuthType": obj.pop("FunctionUrlAuthType")
            }
        if "InvokedViaFunctionUrl" in obj:
            via = obj.pop("InvokedViaFunctionUrl")
            conditions["Bool"] = {"lambda:InvokedViaFunctionUrl": str(via).lower()}
        policy = decode(self, obj)
        if conditions:
            statement = policy.statements[0]
            statement["Condition"] = {**statement.get("Condition", {}), **conditions}
        return policy

    decode_policy.embedded_aws = True
    Policy.decode_policy = decode_policy


def _leave_out_conditional_bucket_statements() -> None:
    """Check object requests against a bucket policy's unconditional statements only.

    IAM User Guide, "Policy evaluation logic": a statement applies only when its conditions
    hold, in the request's context. moto has no context to give (aws:SecureTransport, the
    caller's account...) and denies whenever a condition fails, Allow or Deny. Leaving such
    statements out is what S3 does with the TLS-only Deny for a request over TLS; over the
    embedded AWS's loopback HTTP, S3 would refuse it, and no request here is held to it.
    """
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    if getattr(FakeBucket.get_permission, "embedded_aws", False):
        return

    def get_permission(self, action: str, resource: str):
        document = json.loads(self.policy) if self.policy else {"Statement": []}
        statements = document["Statement"]
        statements = statements if isinstance(statements, list) else [statements]
        kept = [s for s in statements if "Condition" not in s]
        if not kept:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**document, "Statement": kept})).is_action_permitted(
            action, resource
        )

    get_permission.embedded_aws = True
    FakeBucket.get_permission = get_permission


def _service(environ) -> str | None:
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match["service"] if match else None


def _status(start_response, moto_says: int, aws_says: str):
    """Return a start_response that answers `aws_says` where moto says `moto_says`."""

    def start(status, headers, exc_info=None):
        if status.split()[0] == str(moto_says):
            status = aws_says
            headers = [(k, v) for k, v in headers if k.lower() != "status"]
        return start_response(status, headers, exc_info)

    return start


def _name_binary_media_types(environ) -> None:
    """Give each `binaryMediaTypes` patch the type its path names, as API Gateway reads it.

    API Gateway developer guide, "Enabling binary support using the API Gateway REST API":
    `{"op": "add", "path": "/binaryMediaTypes/image~1jpeg"}` adds `image/jpeg`; the path is a
    JSON Pointer (RFC 6901), in which `~1` stands for `/` and `~0` for `~`.
    """
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(size)
    try:
        patch = json.loads(body or b"{}")
    except ValueError:
        patch = None
    if isinstance(patch, dict):
        for operation in patch.get("patchOperations", []):
            path = operation.get("path", "")
            if path.startswith(_BINARY_MEDIA_TYPES) and "value" not in operation:
                named = path[len(_BINARY_MEDIA_TYPES) :]
                operation["value"] = named.replace("~1", "/").replace("~0", "~")
        body = json.dumps(patch).encode()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def _url_config(found: dict) -> dict:
    """Return one item of FunctionUrlConfigs from GetFunctionUrlConfig's answer."""
    return {name: found[name] for name in _URL_CONFIG_FIELDS if found.get(name) is not None}


def _respond(start_response, status: int, headers: list, body: bytes):
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body]
