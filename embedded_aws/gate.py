"""A WSGI gate in front of moto's S3 that enforces what S3 enforces and moto does not.

Browser POST uploads: the policy's signature, its expiry, every condition and no field
outside the policy. Presigned GETs: the signature and the expiry. Refusals answer as S3
does, with its status code and XML error.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import json
from datetime import UTC, datetime

from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wrappers import Request

from .sigv4 import S3Refusal, sign, verify_presigned_get

MAX_KEY_BYTES = 1024
# Fields S3 never asks a policy to mention.
_UNCHECKED_FIELDS = {"x-amz-signature", "file", "policy"}


def _policy_failed(condition) -> S3Refusal:
    return S3Refusal(
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy Condition failed: " + json.dumps(condition),
    )


class S3Gate:
    """Wrap moto's WSGI app; check browser uploads and presigned links before moto sees them."""

    def __init__(self, app, credentials: dict[str, str], clock=None):
        self.app = app
        self.credentials = credentials  # access key id -> secret access key
        self.clock = clock or (lambda: datetime.now(UTC))

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            if _is_browser_post(request):
                body = request.get_data(cache=False)
                self.check_post(
                    request.path.strip("/").split("/")[0],
                    body,
                    request.mimetype_params.get("boundary", ""),
                )
                environ["wsgi.input"] = io.BytesIO(body)
            elif request.method in ("GET", "HEAD") and "X-Amz-Signature" in request.args:
                verify_presigned_get(request, self.credentials, self.clock())
        except S3Refusal as refusal:
            response = refusal.response()
            # S3 adds its CORS headers to refusals too, so a page's script can read them.
            response.headers.extend(_cors_headers(request))
            return response(environ, start_response)
        return self.app(environ, start_response)

    def check_post(self, bucket: str, body: bytes, boundary: str) -> None:
        """Raise S3Refusal unless `body` is an upload S3 would accept into `bucket`."""
        fields, file_size, filename = _parse_form(body, boundary)
        if "policy" not in fields:
            raise S3Refusal(403, "AccessDenied", "Access Denied")
        if file_size is None:
            raise S3Refusal(
                400,
                "InvalidArgument",
                "POST requires exactly one file upload per request.",
                ArgumentName="file",
                ArgumentValue="0",
            )
        self._check_signature(fields)
        policy = _decode_policy(fields["policy"])
        expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        if expiration < self.clock():
            raise S3Refusal(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        values = {**fields, "bucket": bucket}
        mentioned = {"bucket"}
        for condition in policy.get("conditions", []):
            mentioned.add(_check_condition(condition, values, file_size))
        extra = [
            name
            for name in fields
            if name not in mentioned | _UNCHECKED_FIELDS and not name.startswith("x-ignore-")
        ]
        if extra:
            raise S3Refusal(
                403,
                "AccessDenied",
                "Invalid according to Policy: Extra input fields: " + ", ".join(extra),
            )
        key = fields.get("key", "").replace("${filename}", filename or "")
        if len(key.encode()) > MAX_KEY_BYTES:
            raise S3Refusal(
                400,
                "KeyTooLongError",
                "Your key is too long",
                MaxSizeAllowed=str(MAX_KEY_BYTES),
                Size=str(len(key.encode())),
            )

    def _check_signature(self, fields: dict[str, str]) -> None:
        if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
            raise S3Refusal(
                400, "InvalidArgument", "Only AWS4-HMAC-SHA256 POST uploads are checked here."
            )
        try:
            access_key, date, region, service, _ = fields["x-amz-credential"].split("/")
            signature = fields["x-amz-signature"]
        except (KeyError, ValueError) as error:
            raise S3Refusal(
                400, "InvalidArgument", "Invalid credential or signature field."
            ) from error
        if access_key not in self.credentials:
            raise S3Refusal(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        expected = sign(self.credentials[access_key], date, region, service, fields["policy"])
        if not hmac.compare_digest(expected, signature):
            raise S3Refusal(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature "
                "you provided. Check your key and signing method.",
            )


def _cors_headers(request: Request) -> dict[str, str]:
    """Return the CORS headers the bucket's rules give this request's origin, as S3 would."""
    origin = request.headers.get("Origin")
    if not origin:
        return {}
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.exceptions import MissingBucket
    from moto.s3.models import s3_backends
    from moto.s3.utils import cors_matches_origin

    try:
        bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"].get_bucket(request.path.split("/")[1])
    except MissingBucket:  # S3 sends no CORS headers for a bucket it does not have
        return {}
    for rule in bucket.cors:
        if rule.allowed_origins and cors_matches_origin(origin, rule.allowed_origins):
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def _is_browser_post(request: Request) -> bool:
    # SDK calls carry an Authorization header; a browser's form upload carries a policy.
    return (
        request.method == "POST"
        and "Authorization" not in request.headers
        and request.mimetype == "multipart/form-data"
    )


def _parse_form(body: bytes, boundary: str) -> tuple[dict[str, str], int | None, str | None]:
    """Return the form fields before the file (lower-cased names), the file's size and name.

    S3 ignores whatever follows the file, so this does too.
    """
    decoder = MultipartDecoder(boundary.encode())
    decoder.receive_data(body)
    decoder.receive_data(None)
    fields: dict[str, str] = {}
    current, chunks, file_size, filename = None, [], None, None
    while True:
        event = decoder.next_event()
        if isinstance(event, (NeedData, Epilogue)):
            break
        if isinstance(event, File) and event.name == "file":
            current, file_size, filename = "file", 0, event.filename
        elif isinstance(event, (Field, File)):
            current, chunks = event.name.lower(), []
        elif isinstance(event, Data):
            if current == "file":
                file_size += len(event.data)
                if not event.more_data:
                    break
            else:
                chunks.append(event.data)
                if not event.more_data:
                    fields[current] = b"".join(chunks).decode("utf-8", "replace")
    return fields, file_size, filename


def _decode_policy(encoded: str) -> dict:
    try:
        return json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as error:
        raise S3Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from error


def _check_condition(condition, values: dict[str, str], file_size: int) -> str:
    """Raise S3Refusal unless `condition` holds; return the field name it covers."""
    if isinstance(condition, dict):
        ((name, expected),) = condition.items()
        condition = ["eq", f"${name}", expected]
    operator = str(condition[0]).lower()
    if operator == "content-length-range":
        low, high = int(condition[1]), int(condition[2])
        if file_size > high:
            raise S3Refusal(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                ProposedSize=str(file_size),
                MaxSizeAllowed=str(high),
            )
        if file_size < low:
            raise S3Refusal(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
                ProposedSize=str(file_size),
                MinSizeAllowed=str(low),
            )
        return "content-length-range"
    name = str(condition[1]).lstrip("$").lower()
    actual, expected = values.get(name, ""), str(condition[2])
    if operator == "eq" and actual != expected:
        raise _policy_failed(condition)
    if operator == "starts-with" and not actual.startswith(expected):
        raise _policy_failed(condition)
    if operator not in ("eq", "starts-with"):
        raise S3Refusal(
            400,
            "InvalidPolicyDocument",
            f"Invalid Policy: Invalid Condition: {json.dumps(condition)}",
        )
    return name
