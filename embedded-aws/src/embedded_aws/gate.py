"""A WSGI gate in front of moto that enforces what AWS enforces and moto does not.

moto accepts any browser POST to S3 and any signature. The gate, on every request:
- a signed API call (an Authorization header, of any service): its SigV4 signature;
- a presigned request: its signature and expiry;
- a browser's POST upload: the policy's signature and expiry, every condition, no field
  outside the policy, judged on the form S3 would see; then it forwards that form, and only
  that, to moto, so what moto stores is what the gate judged;
- anything else anonymous: refused, as S3 refuses it for a private bucket.
Refusals answer as AWS does, with its status code and error.

The rules of a POST upload follow AWS's "POST Policy" (sigv4-HTTPPOSTConstructPolicy) and
"PostObject" pages; each rule below names what it follows.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wrappers import Request

from .sigv4 import S3Refusal, sign, verify_presigned, verify_signed_headers

MAX_KEY_BYTES = 1024
# PostObject: "Each form field that you specify in a form (except x-amz-signature, file,
# policy, and field names that have an x-ignore- prefix) must appear in the list of
# conditions."
_UNCHECKED_FIELDS = {"x-amz-signature", "file", "policy"}
# POST Policy, Conditions: the fields whose condition may be starts-with; every other field
# takes exact matches only.
_STARTS_WITH_FIELDS = {
    "acl",
    "key",
    "success_action_redirect",
    "redirect",
    "cache-control",
    "content-type",
    "content-disposition",
    "content-encoding",
    "expires",
}
# PostObject, success_action_status: "If the value is not set or if it is set to an invalid
# value, Amazon S3 returns an empty document with a 204 status code."
_STATUSES = {"200", "201", "204"}
# How moto reads the fields it acts on (it matches them by exact name).
_MOTO_NAMES = {
    "content-type": "Content-Type",
    "cache-control": "Cache-Control",
    "content-disposition": "Content-Disposition",
    "content-encoding": "Content-Encoding",
    "expires": "Expires",
}


def _policy_failed(condition) -> S3Refusal:
    return S3Refusal(
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy Condition failed: " + json.dumps(condition),
    )


@dataclass
class PostForm:
    """A browser's upload as S3 reads it: the fields before the file (names lower-cased,
    repeated ones joined with commas), and the file; everything after the file is ignored."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    file: bytes | None = None
    file_type: str = "application/octet-stream"

    def encode(self) -> tuple[bytes, str]:
        """Return the multipart body and content type of exactly this form, for moto."""
        from urllib3 import encode_multipart_formdata

        parts: list = [(_MOTO_NAMES.get(name, name), value) for name, value in self.fields.items()]
        parts.append(("file", (self.filename or "", self.file or b"", self.file_type)))
        return encode_multipart_formdata(parts)


class S3Gate:
    """Wrap moto's WSGI app; let through only what AWS would accept."""

    def __init__(self, app, credentials: dict[str, str], clock=None):
        self.app = app
        self.credentials = credentials  # access key id -> secret access key
        self.clock = clock or (lambda: datetime.now(UTC))

    def __call__(self, environ, start_response):
        request = Request(environ)
        service = "s3"
        try:
            if "Authorization" in request.headers:
                body = request.get_data(cache=False)
                service = verify_signed_headers(request, body, self.credentials, self.clock())
                _replace_body(environ, body)
            elif "X-Amz-Signature" in request.args:
                verify_presigned(request, self.credentials, self.clock())
            elif request.method == "POST" and request.mimetype == "multipart/form-data":
                form = self.check_post(
                    request.path.strip("/").split("/")[0],
                    request.get_data(cache=False),
                    request.mimetype_params.get("boundary", ""),
                )
                body, content_type = form.encode()
                _replace_body(environ, body, content_type)
            elif request.method != "OPTIONS":  # a CORS preflight carries no credentials
                raise S3Refusal(403, "AccessDenied", "Access Denied")
        except S3Refusal as refusal:
            response = refusal.response()
            if service == "s3":
                # S3 adds its CORS headers to refusals too, so a page's script can read them.
                response.headers.extend(_cors_headers(request))
            return response(environ, start_response)
        return self.app(environ, start_response)

    def check_post(self, bucket: str, body: bytes, boundary: str) -> PostForm:
        """Return the form S3 would store; raise S3Refusal unless S3 would accept it."""
        form = _parse_form(body, boundary)
        fields = form.fields
        if "policy" not in fields:
            raise S3Refusal(403, "AccessDenied", "Access Denied")
        if form.file is None:
            raise S3Refusal(
                400,
                "InvalidArgument",
                "POST requires exactly one file upload per request.",
                ArgumentName="file",
                ArgumentValue="0",
            )
        for name, value in fields.items():
            if "\r" in value or "\n" in value:
                # Form fields become the object's headers and metadata, where HTTP (RFC 9110,
                # field values) allows no line breaks.
                raise S3Refusal(
                    400, "InvalidArgument", f"Field {name} holds a line break.", ArgumentName=name
                )
        self._check_signature(fields)
        policy = _decode_policy(fields["policy"])
        expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        if expiration < self.clock():
            raise S3Refusal(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        if "key" in fields:
            # PostObject, key: ${filename} is replaced by the name of the file the user sent,
            # before the policy is checked.
            fields["key"] = fields["key"].replace("${filename}", form.filename or "")
        values = {**fields, "bucket": bucket}
        mentioned = {"bucket"}
        for condition in policy.get("conditions", []):
            mentioned.add(_check_condition(condition, values, len(form.file)))
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
        key = fields.get("key", "")
        if len(key.encode()) > MAX_KEY_BYTES:
            raise S3Refusal(
                400,
                "KeyTooLongError",
                "Your key is too long",
                MaxSizeAllowed=str(MAX_KEY_BYTES),
                Size=str(len(key.encode())),
            )
        if fields.get("success_action_status", "204") not in _STATUSES:
            fields["success_action_status"] = "204"
        form.fields = {name: v for name, v in fields.items() if not name.startswith("x-ignore-")}
        return form

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


def _replace_body(environ, body: bytes, content_type: str | None = None) -> None:
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    if content_type:
        environ["CONTENT_TYPE"] = content_type


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


def _parse_form(body: bytes, boundary: str) -> PostForm:
    """Read a form as S3 does: field names are case-insensitive, a repeated field's values
    are joined with commas, and whatever follows the file is ignored (PostObject: "The file
    or content must be the last field in the form. Any fields below it are ignored.")."""
    decoder = MultipartDecoder(boundary.encode())
    decoder.receive_data(body)
    decoder.receive_data(None)
    form, values = PostForm(), {}
    current, chunks = None, []
    while form.file is None:
        try:
            event = decoder.next_event()
        except ValueError as error:  # werkzeug's word for a malformed body
            raise S3Refusal(
                400,
                "MalformedPOSTRequest",
                "The body of your POST request is not well-formed multipart/form-data.",
            ) from error
        if isinstance(event, NeedData | Epilogue):
            break
        if isinstance(event, File) and event.name.lower() == "file":
            current, chunks = "file", []
            form.filename = event.filename
            form.file_type = event.headers.get("Content-Type", form.file_type)
        elif isinstance(event, Field | File):
            current, chunks = event.name.lower(), []
        elif isinstance(event, Data):
            chunks.append(event.data)
            if not event.more_data:
                data = b"".join(chunks)
                if current == "file":
                    form.file = data
                else:
                    values.setdefault(current, []).append(data.decode("utf-8", "replace"))
    form.fields = {name: ",".join(parts) for name, parts in values.items()}
    return form


def _decode_policy(encoded: str) -> dict:
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as error:
        raise S3Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from error
    if not isinstance(policy, dict) or "expiration" not in policy:
        raise S3Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Missing 'expiration'.")
    return policy


def _check_condition(condition, values: dict[str, str], file_size: int) -> str:
    """Raise S3Refusal unless `condition` holds; return the field name it covers."""
    if isinstance(condition, dict) and len(condition) == 1:
        ((name, expected),) = condition.items()
        condition = ["eq", f"${name}", expected]
    if not isinstance(condition, list) or len(condition) != 3:
        raise _invalid(condition)
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
    name = str(condition[1]).removeprefix("$").lower()
    expected = str(condition[2])
    if operator == "starts-with" and not (
        name in _STARTS_WITH_FIELDS or name.startswith("x-amz-meta-")
    ):
        raise _invalid(condition)
    if operator not in ("eq", "starts-with"):
        raise _invalid(condition)
    actual = values.get(name, "")
    # POST Policy, "Matching Content-Types in a Comma-Separated List": each value of a
    # Content-Type list must meet the condition. Elsewhere a comma is part of the value.
    candidates = actual.split(",") if name == "content-type" else [actual]
    holds = str.startswith if operator == "starts-with" else str.__eq__
    if not all(holds(candidate, expected) for candidate in candidates):
        raise _policy_failed(condition)
    return name


def _invalid(condition) -> S3Refusal:
    return S3Refusal(
        400, "InvalidPolicyDocument", f"Invalid Policy: Invalid Condition: {json.dumps(condition)}"
    )
