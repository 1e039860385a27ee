"""Signature Version 4, checked as AWS checks it: signed headers and presigned URLs.

Follows "Create a signed AWS API request" and "Authenticating Requests: Using Query
Parameters (AWS Signature Version 4)" in AWS's documentation: the canonical request, the
string to sign, the signing key, and S3's own rules (the path is signed as sent, the payload
by its `x-amz-content-sha256`, a request at most 15 minutes from the server's clock).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import posixpath
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

ALGORITHM = "AWS4-HMAC-SHA256"
_TIME = "%Y%m%dT%H%M%SZ"
_SKEW = timedelta(minutes=15)
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
# Services whose errors are XML in an <ErrorResponse> (the query protocol); the others JSON.
_QUERY_PROTOCOL = {"sts", "iam", "cloudformation", "sns", "ec2", "elasticloadbalancing"}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class S3Refusal(Exception):
    """What AWS answers when it refuses a request: S3's XML, or the service's own shape."""

    def __init__(self, status: int, code: str, message: str, service: str = "s3", **extra: str):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra
        self.service = service

    def response(self) -> Response:
        request_id = uuid.uuid4().hex[:16].upper()
        if self.service not in ("s3", ""):
            return self._service_response(request_id)
        parts = [f"<Code>{escape(self.code)}</Code>", f"<Message>{escape(self.message)}</Message>"]
        parts += [f"<{name}>{escape(str(value))}</{name}>" for name, value in self.extra.items()]
        parts.append(f"<RequestId>{request_id}</RequestId>")
        body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"
        return Response(body, status=self.status, content_type="application/xml")

    def _service_response(self, request_id: str) -> Response:
        if self.service in _QUERY_PROTOCOL:
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(self.code)}</Code>"
                f"<Message>{escape(self.message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            )
            return Response(body, status=self.status, content_type="text/xml")
        body = json.dumps({"__type": self.code, "message": self.message})
        response = Response(body, status=self.status, content_type="application/x-amz-json-1.0")
        response.headers["x-amzn-ErrorType"] = self.code
        response.headers["x-amzn-RequestId"] = request_id
        return response


def sign(secret: str, date: str, region: str, service: str, string_to_sign: str) -> str:
    """Return the SigV4 signature of `string_to_sign` (hex)."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def verify_signed_headers(request, body: bytes, credentials: dict[str, str], now: datetime) -> str:
    """Raise S3Refusal unless `request`'s Authorization header signs it; return its service."""
    header = request.headers.get("Authorization", "")
    algorithm, _, rest = header.partition(" ")
    if algorithm != ALGORITHM:
        raise S3Refusal(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 requests are accepted.")
    try:
        fields = dict(part.strip().split("=", 1) for part in rest.split(","))
        access_key, date, region, service, terminator = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        signature = fields["Signature"]
        stamp = request.headers["X-Amz-Date"]
        signed_at = datetime.strptime(stamp, _TIME).replace(tzinfo=UTC)
    except (KeyError, ValueError) as error:
        raise S3Refusal(
            400, "AuthorizationHeaderMalformed", "The authorization header is malformed."
        ) from error
    if terminator != "aws4_request" or date != stamp[:8]:
        raise S3Refusal(400, "AuthorizationHeaderMalformed", "The credential scope is wrong.")
    if abs(now - signed_at) > _SKEW:
        raise S3Refusal(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            service,
        )
    secret = _secret(credentials, access_key, service)
    payload = request.headers.get("X-Amz-Content-Sha256") or hashlib.sha256(body).hexdigest()
    if _HEX64.match(payload) and hashlib.sha256(body).hexdigest() != payload:
        raise S3Refusal(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            service,
        )
    path, query = _raw_target(request)
    canonical = _canonical_request(request, service, path, query, signed, payload)
    _check(secret, date, region, service, stamp, canonical, signature)
    return service


def verify_presigned(request, credentials: dict[str, str], now: datetime) -> None:
    """Raise S3Refusal unless `request` carries a valid, unexpired query signature."""
    path, query = _raw_target(request)
    args = {unquote(k): unquote(v) for k, v in query}
    try:
        access_key, date, region, service, _ = args["X-Amz-Credential"].split("/")
        signed_at = datetime.strptime(args["X-Amz-Date"], _TIME).replace(tzinfo=UTC)
        expires_at = signed_at + timedelta(seconds=int(args["X-Amz-Expires"]))
        signed = args["X-Amz-SignedHeaders"].split(";")
    except (KeyError, ValueError) as error:
        raise S3Refusal(
            400,
            "AuthorizationQueryParametersError",
            "Query-string authentication requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders "
            "and X-Amz-Expires parameters.",
        ) from error
    secret = _secret(credentials, access_key, service)
    unsigned = [(k, v) for k, v in query if unquote(k) != "X-Amz-Signature"]
    canonical = _canonical_request(request, service, path, unsigned, signed, "UNSIGNED-PAYLOAD")
    _check(
        secret,
        date,
        region,
        service,
        args["X-Amz-Date"],
        canonical,
        args.get("X-Amz-Signature", ""),
    )
    if now > expires_at:
        raise S3Refusal(
            403,
            "AccessDenied",
            "Request has expired",
            **{
                "X-Amz-Expires": args["X-Amz-Expires"],
                "Expires": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        )


def _secret(credentials: dict[str, str], access_key: str, service: str) -> str:
    if access_key not in credentials:
        raise S3Refusal(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            service,
        )
    return credentials[access_key]


def _check(secret, date, region, service, stamp, canonical: str, signature: str) -> None:
    scope = f"{date}/{region}/{service}/aws4_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    expected = sign(secret, date, region, service, f"{ALGORITHM}\n{stamp}\n{scope}\n{digest}")
    if not hmac.compare_digest(expected, signature):
        code = "SignatureDoesNotMatch" if service == "s3" else "InvalidSignatureException"
        raise S3Refusal(403, code, _MISMATCH, service)


def _raw_target(request) -> tuple[str, list[tuple[str, str]]]:
    """Return the path as sent and the query's pairs, still percent-encoded."""
    environ = request.environ
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not raw:
        raw = quote(environ.get("PATH_INFO", "/"))
        if environ.get("QUERY_STRING"):
            raw += "?" + environ["QUERY_STRING"]
    path, _, query = raw.partition("?")
    pairs = [pair.partition("=")[::2] for pair in query.split("&") if pair]
    return path, pairs


def _canonical_request(request, service, path, query, signed, payload) -> str:
    if service == "s3":
        uri = path  # S3 signs the path as sent: no normalizing, no second encoding
    else:
        normalized = posixpath.normpath(unquote(path)) if path not in ("", "/") else "/"
        uri = quote(quote(normalized, safe="/~"), safe="/~")
        if path.endswith("/") and normalized != "/":
            uri += "/"
    encoded = sorted(
        (quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~")) for k, v in query
    )
    headers = "".join(f"{name}:{_header(request, name)}\n" for name in signed)
    return "\n".join(
        [
            request.method,
            uri,
            "&".join(f"{k}={v}" for k, v in encoded),
            headers,
            ";".join(signed),
            payload,
        ]
    )


def _header(request, name: str) -> str:
    value = request.headers.get(name, "")
    return " ".join(value.split())
