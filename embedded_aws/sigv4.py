"""SigV4 as S3 checks it: S3's error answers, signing, and presigned GET links."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response


class S3Refusal(Exception):
    """What S3 answers when it refuses a request."""

    def __init__(self, status: int, code: str, message: str, **extra: str):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> Response:
        parts = [f"<Code>{escape(self.code)}</Code>", f"<Message>{escape(self.message)}</Message>"]
        parts += [f"<{name}>{escape(str(value))}</{name}>" for name, value in self.extra.items()]
        parts.append(f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId>")
        body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"
        return Response(body, status=self.status, content_type="application/xml")


def sign(secret: str, date: str, region: str, service: str, string_to_sign: str) -> str:
    """Return the SigV4 signature of `string_to_sign` (hex)."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


_TIME = "%Y%m%dT%H%M%SZ"
_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you "
    "provided. Check your key and signing method."
)


def verify_presigned_get(request, credentials: dict[str, str], now: datetime) -> None:
    """Raise S3Refusal unless `request` carries a valid, unexpired query signature."""
    raw_uri = request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or request.path
    raw_path, _, raw_query = raw_uri.partition("?")
    params = parse_qsl(raw_query, keep_blank_values=True)
    args = dict(params)
    try:
        access_key, date, region, service, _ = args["X-Amz-Credential"].split("/")
        signed_at = datetime.strptime(args["X-Amz-Date"], _TIME).replace(tzinfo=UTC)
        expires_at = signed_at + timedelta(seconds=int(args["X-Amz-Expires"]))
        signed_headers = args["X-Amz-SignedHeaders"].split(";")
    except (KeyError, ValueError) as error:
        raise S3Refusal(
            400,
            "AuthorizationQueryParametersError",
            "Query-string authentication requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders "
            "and X-Amz-Expires parameters.",
        ) from error
    if access_key not in credentials:
        raise S3Refusal(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    canonical = _canonical_request(request, raw_path, params, signed_headers)
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            args["X-Amz-Date"],
            f"{date}/{region}/{service}/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    expected = sign(credentials[access_key], date, region, service, string_to_sign)
    if not hmac.compare_digest(expected, args.get("X-Amz-Signature", "")):
        raise S3Refusal(403, "SignatureDoesNotMatch", _SIGNATURE_MISMATCH)
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


def _canonical_request(request, raw_path: str, params, signed_headers: list[str]) -> str:
    """Return SigV4's canonical form of a presigned GET (the payload is never signed)."""
    query = "&".join(
        f"{quote(key, safe='-_.~')}={quote(value, safe='-_.~')}"
        for key, value in sorted(params)
        if key != "X-Amz-Signature"
    )
    headers = "".join(
        f"{name}:{request.headers.get(name, '').strip()}\n" for name in signed_headers
    )
    return "\n".join(
        [request.method, raw_path, query, headers, ";".join(signed_headers), "UNSIGNED-PAYLOAD"]
    )
