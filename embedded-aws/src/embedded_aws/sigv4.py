"""Signature Version 4, checked as AWS checks it: signed headers and presigned URLs.

Follows "Create a signed AWS API request" and "Authenticating Requests: Using Query
Parameters (AWS Signature Version 4)" in AWS's documentation: the canonical request, the
string to sign, the signing key, and S3's own rules (the path is signed as sent, the payload
by its `x-amz-content-sha256`, a request at most 15 minutes from the server's clock, a link
valid for at most seven days, every `x-amz-*` header and `host` signed, a credential scope
naming the bucket's region).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote, unquote_to_bytes

from .refusal import S3Refusal

ALGORITHM = "AWS4-HMAC-SHA256"
_TIME = "%Y%m%dT%H%M%SZ"
_SKEW = timedelta(minutes=15)
# "Authenticating Requests: Using Query Parameters": X-Amz-Expires is at most 604800 (seven
# days), "because the signing key you use in signature calculation is valid for up to seven
# days".
MAX_EXPIRES = 604800
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_QUERY_PARAMETERS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
_BAD_CREDENTIAL = (
    'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
)


def sign(secret: str, date: str, region: str, service: str, string_to_sign: str) -> str:
    """Return the SigV4 signature of `string_to_sign` (hex)."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def verify_signed_headers(
    request, body: bytes, credentials: dict[str, str], now: datetime, region_of
) -> str:
    """Raise S3Refusal unless `request`'s Authorization header signs it; return its service.

    `region_of(service)` is the region the request must be signed for.
    """
    access_key, date, region, service, signed, signature, stamp = _authorization(request)
    signed_at = datetime.strptime(stamp, _TIME).replace(tzinfo=UTC)
    expected = region_of(service)
    if region != expected:
        raise S3Refusal(
            400,
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; the region '{region}' is wrong; "
            f"expecting '{expected}'",
            service,
            Region=expected,
        )
    if abs(now - signed_at) > _SKEW:
        raise S3Refusal(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            service,
        )
    secret = _secret(credentials, access_key, service)
    payload = request.headers.get("X-Amz-Content-Sha256")
    if service == "s3":
        _check_s3_headers(request, signed, payload)
    payload = payload or hashlib.sha256(body).hexdigest()
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


def _authorization(request) -> tuple[str, str, str, str, list[str], str, str]:
    """Return the Authorization header's access key, date, region, service, signed headers
    and signature, and the request's X-Amz-Date; raise S3Refusal if S3 could not read them."""
    header = request.headers.get("Authorization", "")
    algorithm, _, rest = header.partition(" ")
    if algorithm != ALGORITHM:
        raise S3Refusal(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 requests are accepted.")
    try:
        fields = dict(part.strip().split("=", 1) for part in rest.split(","))
        access_key, date, region, service, terminator = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        stamp = request.headers["X-Amz-Date"]
        datetime.strptime(stamp, _TIME)
        found = (access_key, date, region, service, signed, fields["Signature"], stamp)
    except (KeyError, ValueError) as error:
        raise S3Refusal(
            400, "AuthorizationHeaderMalformed", "The authorization header is malformed."
        ) from error
    if terminator != "aws4_request" or date != stamp[:8]:
        raise S3Refusal(400, "AuthorizationHeaderMalformed", "The credential scope is wrong.")
    return found


def verify_presigned(request, credentials: dict[str, str], now: datetime, region: str) -> None:
    """Raise S3Refusal unless `request` carries a valid, unexpired S3 query signature."""
    path, query = _raw_target(request)
    args = {unquote(k.decode("latin-1")): unquote(v.decode("latin-1")) for k, v in query}
    if not all(name in args for name in _QUERY_PARAMETERS):
        raise _query_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters."
        )
    access_key, date, service = _presigned_scope(args["X-Amz-Credential"], region)
    try:
        signed_at = datetime.strptime(args["X-Amz-Date"], _TIME).replace(tzinfo=UTC)
    except ValueError as error:
        raise _query_error(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        ) from error
    expires = _expires(args["X-Amz-Expires"])
    signed = args["X-Amz-SignedHeaders"].split(";")
    _check_unsigned(request, signed, exempt={"x-amz-content-sha256"})
    secret = _secret(credentials, access_key, service)
    unsigned = [(k, v) for k, v in query if k != b"X-Amz-Signature"]
    canonical = _canonical_request(request, service, path, unsigned, signed, "UNSIGNED-PAYLOAD")
    _check(secret, date, region, service, args["X-Amz-Date"], canonical, args["X-Amz-Signature"])
    expires_at = signed_at + timedelta(seconds=expires)
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


def _query_error(message: str, **extra: str) -> S3Refusal:
    return S3Refusal(400, "AuthorizationQueryParametersError", message, **extra)


def _presigned_scope(credential: str, region: str) -> tuple[str, str, str]:
    """Return the access key, date and service of a link's credential, as S3 reads it."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not re.fullmatch(r"\d{8}", parts[1]):
        raise _query_error("Error parsing the X-Amz-Credential parameter; " + _BAD_CREDENTIAL)
    access_key, date, scope_region, service, _ = parts
    if scope_region != region:
        raise _query_error(
            f"Error parsing the X-Amz-Credential parameter; the region '{scope_region}' is "
            f"wrong; expecting '{region}'",
            Region=region,
        )
    if service != "s3":
        raise _query_error(
            f'Error parsing the X-Amz-Credential parameter; incorrect service "{service}". '
            'This endpoint belongs to "s3".'
        )
    return access_key, date, service


def _expires(value: str) -> int:
    """Return X-Amz-Expires in seconds; raise S3Refusal as S3 does for a bad one."""
    if not re.fullmatch(r"-?\d+", value):
        raise _query_error("X-Amz-Expires should be a number")
    seconds = int(value)
    if seconds < 0:
        raise _query_error("X-Amz-Expires must be non-negative")
    if seconds > MAX_EXPIRES:
        raise _query_error(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given "
            f"X-Amz-Expires must be less than {MAX_EXPIRES} seconds"
        )
    return seconds


def _check_s3_headers(request, signed: list[str], payload: str | None) -> None:
    """S3's own rules for a signed request: the payload's hash is sent, and signed, with
    every other `x-amz-*` header and `host`."""
    if payload is None:
        raise S3Refusal(
            400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        )
    if "x-amz-content-sha256" not in signed:
        raise S3Refusal(
            400, "InvalidRequest", "header 'x-amz-content-sha256' must be included in signature"
        )
    _check_unsigned(request, signed, exempt=set())


def _check_unsigned(request, signed: list[str], exempt: set[str]) -> None:
    """Refuse a request whose `host` or `x-amz-*` headers are not all signed, as S3 does."""
    present = [name.lower() for name in request.headers.keys()]
    missing = [
        name
        for name in dict.fromkeys(present)
        if (name == "host" or name.startswith("x-amz-")) and name not in set(signed) | exempt
    ]
    if missing:
        raise S3Refusal(
            403,
            "AccessDenied",
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(missing),
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


def _raw_target(request) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Return the path as sent and the query's pairs, as bytes, still percent-encoded."""
    environ = request.environ
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not raw:
        raw = quote(environ.get("PATH_INFO", "/"), safe="/~!$&'()*+,;=:@")
        if environ.get("QUERY_STRING"):
            raw += "?" + environ["QUERY_STRING"]
    # A WSGI server hands the request line over as latin-1 (PEP 3333): these are its bytes.
    target = raw.encode("latin-1", "replace")
    if environ.get("SERVER_SOFTWARE", "").startswith("Werkzeug/"):
        # werkzeug's server encodes that latin-1 text as UTF-8 once more: undo it.
        target = target.decode("utf-8", "replace").encode("latin-1", "replace")
    path, _, query = target.partition(b"?")
    pairs = [pair.partition(b"=")[::2] for pair in query.split(b"&") if pair]
    return path, pairs


def _canonical_request(request, service, path: bytes, query, signed, payload) -> str:
    if service == "s3":
        uri = path.decode("latin-1")  # S3 signs the path as sent: no normalizing, no encoding
    else:
        uri = quote(_remove_dot_segments(path), safe="/~")
    encoded = sorted(
        (quote(unquote_to_bytes(k), safe="-_.~"), quote(unquote_to_bytes(v), safe="-_.~"))
        for k, v in query
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


def _remove_dot_segments(path: bytes) -> bytes:
    """Normalize a path as RFC 3986 does, and drop empty segments, for services but S3."""
    kept: list[bytes] = []
    for segment in path.split(b"/"):
        if segment == b"..":
            if kept:
                kept.pop()
        elif segment not in (b"", b"."):
            kept.append(segment)
    trailing = b"/" if path.endswith(b"/") and kept else b""
    return b"/" + b"/".join(kept) + trailing


def _header(request, name: str) -> str:
    """A header's canonical value: its values (joined with commas by the server, in order),
    trimmed, with runs of spaces made one."""
    value = request.headers.get(name, "")
    return " ".join(value.split())
