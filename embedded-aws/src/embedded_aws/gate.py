"""A WSGI gate in front of moto that enforces what AWS enforces and moto does not.

moto accepts any browser POST to S3 and any signature. The gate, on every request:
- a signed API call (an Authorization header, of any service): its SigV4 signature;
- a presigned request: its signature and expiry;
- a browser's POST upload: the policy's signature and expiry, every condition, no field
  outside the policy, the values S3 checks, judged on the form S3 would see; then it forwards
  that form, and only that, to moto, so what moto stores is what the gate judged;
- a POST that is no S3 operation, or whose body S3 could not read: refused as S3 refuses it
  (moto would answer 500);
- anything else anonymous: refused, as S3 refuses it for a private bucket;
- an answer: CORS headers only for an Origin the bucket's rules allow, with S3's Vary.
Refusals answer as AWS does, with its status code and error; a stored upload is answered as
S3 answers it, its etag included (post_answer.py).

The rules of a POST upload follow AWS's "POST Policy" (sigv4-HTTPPOSTConstructPolicy) and
"PostObject" pages (post_policy.py, post_form.py, post_fields.py); where those pages are
silent, S3's recorded answers, which the conformance tests cite.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from xml.etree import ElementTree

from werkzeug.wrappers import Request

from . import post_answer
from .buckets import cors_headers, moto_bucket_rules
from .post_fields import check_values
from .post_form import PostForm, parse_form
from .post_policy import apply, read_policy
from .post_signature import check_signature
from .refusal import S3Refusal
from .sigv4 import verify_presigned, verify_signed_headers

MAX_KEY_BYTES = 1024
# What S3 names in Vary when it answers a request with an Origin its CORS rules allow.
S3_CORS_VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
# PostObject: "Each form field that you specify in a form (except x-amz-signature, file,
# policy, and field names that have an x-ignore- prefix) must appear in the list of
# conditions."
_UNCHECKED_FIELDS = {"x-amz-signature", "file", "policy"}
# The fields a signed upload must carry, in the order S3 names the first one missing.
_SIGNATURE_FIELDS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature")
# The POSTs S3 serves on an object: multipart uploads, restore, select.
_OBJECT_POSTS = {"uploads", "uploadId", "restore", "select"}


class S3Gate:
    """Wrap moto's WSGI app; let through only what AWS would accept.

    `bucket_rules(bucket)` tells a bucket's region and the ACLs it allows (moto's records by
    default); requests for no bucket are held to `region`.
    """

    def __init__(
        self, app, credentials: dict[str, str], clock=None, *, region="us-east-1", bucket_rules=None
    ):
        self.app = app
        self.credentials = credentials  # access key id -> secret access key
        self.clock = clock or (lambda: datetime.now(UTC))
        self.region = region
        self.bucket_rules = bucket_rules or moto_bucket_rules

    def __call__(self, environ, start_response):
        request = Request(environ)
        service = "s3"
        stored = None
        try:
            body = b""
            if "Authorization" in request.headers or request.method == "POST":
                body = request.get_data(cache=False)
                _replace_body(environ, body)
            if "Authorization" in request.headers:
                service = verify_signed_headers(
                    request, body, self.credentials, self.clock(), self._region_for(request)
                )
            elif any(name.startswith("X-Amz-") for name in request.args):
                region = self._region_for(request)("s3")
                verify_presigned(request, self.credentials, self.clock(), region)
            elif not (request.method == "POST" and _post_operation(request) == "PostObject"):
                if request.method != "OPTIONS":  # a CORS preflight carries no credentials
                    raise S3Refusal(403, "AccessDenied", "Access Denied")
            if service == "s3" and request.method == "POST":
                stored = self._judge_post(request, environ, body)
        except S3Refusal as refusal:
            response = refusal.response()
            if service == "s3":
                # S3 adds its CORS headers to refusals too, so a page's script can read them.
                response.headers.extend(
                    cors_headers(request.path.split("/")[1], request.headers.get("Origin"))
                )
            return response(environ, start_response)
        if service == "s3" and request.method != "OPTIONS":  # moto answers a preflight itself
            start_response = _s3_cors(request, start_response)
        if stored is not None:
            return post_answer.answer(self.app, environ, start_response, stored)
        return self.app(environ, start_response)

    def _judge_post(self, request: Request, environ, body: bytes) -> PostForm | None:
        """Refuse a POST S3 would refuse; put the judged form in place of a browser upload."""
        operation = _post_operation(request)
        if operation == "DeleteObjects":
            _check_delete(body)
        elif operation is None:
            key = request.path.lstrip("/").partition("/")[2]
            raise S3Refusal(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                Method="POST",
                ResourceType="OBJECT" if key else "BUCKET",
            )
        if operation != "PostObject":
            return None
        if request.mimetype != "multipart/form-data":
            raise S3Refusal(
                412,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                Condition="Bucket POST must be of the enclosure-type multipart/form-data",
            )
        form = self.check_post(
            request.path.strip("/").split("/")[0],
            body,
            request.mimetype_params.get("boundary", ""),
        )
        body, content_type = form.encode()
        _replace_body(environ, body, content_type)
        return form

    def check_post(self, bucket: str, body: bytes, boundary: str) -> PostForm:
        """Return the form S3 would store; raise S3Refusal unless S3 would accept it."""
        form = parse_form(body, boundary)
        _require(form)
        fields = form.fields
        rules = self.bucket_rules(bucket)
        check_signature(fields, rules.region or self.region, self.credentials)
        policy = read_policy(fields["policy"])
        if policy.expiration < self.clock():
            raise S3Refusal(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        # POST Policy: "All variables within the form are expanded prior to validating the
        # POST policy."
        form.expand_filename()
        fields = form.fields
        covered = apply(policy, {**fields, "bucket": bucket}, len(form.file)) | {"bucket"}
        _check_coverage(fields, covered)
        kept = {name: v for name, v in fields.items() if not name.startswith("x-ignore-")}
        form.fields = check_values(kept, form.file, rules)
        return form

    def _region_for(self, request: Request):
        """Return `region_of(service)`: S3 wants its bucket's region, others the gate's."""
        bucket = request.path.lstrip("/").split("/")[0]

        def region_of(service: str) -> str:
            if service != "s3":
                return self.region
            return self.bucket_rules(bucket).region or self.region

        return region_of


def _require(form: PostForm) -> None:
    """Refuse a form S3 would not take as a signed upload: anonymous, missing a field S3
    requires, without a file, or with a line break in a field."""
    fields = form.fields
    signed = any(name.lower() in fields for name in _SIGNATURE_FIELDS)
    if "policy" not in fields or not signed:
        # PostObject, policy: "Requests without a security policy are considered
        # anonymous and work only on publicly writable buckets."
        raise S3Refusal(403, "AccessDenied", "Access Denied")
    for name in (*_SIGNATURE_FIELDS, "key"):
        if name.lower() not in fields:
            raise S3Refusal(
                400,
                "InvalidArgument",
                f"Bucket POST must contain a field named '{name}'.  If it is specified, "
                "please check the order of the fields.",
                ArgumentName=name,
                ArgumentValue="",
            )
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


def _check_coverage(fields: dict[str, str], covered: set[str]) -> None:
    """Refuse a field no condition covers, and a key longer than S3 takes."""
    extra = [
        name
        for name in fields
        if name not in covered | _UNCHECKED_FIELDS and not name.startswith("x-ignore-")
    ]
    if extra:
        raise S3Refusal(
            403,
            "AccessDenied",
            "Invalid according to Policy: Extra input fields: " + ", ".join(extra),
        )
    key = fields["key"].encode()
    if len(key) > MAX_KEY_BYTES:
        raise S3Refusal(
            400,
            "KeyTooLongError",
            "Your key is too long",
            MaxSizeAllowed=str(MAX_KEY_BYTES),
            Size=str(len(key)),
        )


def _post_operation(request: Request) -> str | None:
    """Name the S3 operation a POST asks for: PostObject, DeleteObjects, an object's; None
    when S3 has no such operation."""
    bucket, _, key = request.path.lstrip("/").partition("/")
    asked = {name for name in request.args if not name.startswith("X-Amz-")}
    if not bucket:
        return None
    if key:
        return "ObjectOperation" if asked & _OBJECT_POSTS else None
    if not asked:
        return "PostObject"
    return "DeleteObjects" if "delete" in asked else None


def _check_delete(body: bytes) -> None:
    """DeleteObjects takes a <Delete> document naming at least one <Object> by its <Key>."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        root = None
    keys = [] if root is None else [e for e in root.iter() if e.tag.rpartition("}")[2] == "Key"]
    if root is None or root.tag.rpartition("}")[2] != "Delete" or not keys:
        raise S3Refusal(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
        )


def _s3_cors(request: Request, start_response):
    """Answer with CORS headers as S3 does: only to a request whose Origin one of the
    bucket's rules allows, and then saying that the answer varies with it. moto's server
    adds `Access-Control-Allow-Origin: *` to every answer, which lets any page read any
    object, and a browser reuse an answer to a plain request for a CORS one."""
    allowed = cors_headers(request.path.split("/")[1], request.headers.get("Origin"))

    def start(status, headers, exc_info=None):
        kept = []
        for name, value in headers:
            lower = name.lower()
            if lower in ("access-control-allow-origin", "vary"):
                continue
            if allowed or not lower.startswith("access-control-"):
                kept.append((name, value))
        if allowed:
            kept += [("Access-Control-Allow-Origin", allowed["Access-Control-Allow-Origin"])]
            kept += [("Vary", S3_CORS_VARY)]
        return start_response(status, kept, exc_info)

    return start


def _replace_body(environ, body: bytes, content_type: str | None = None) -> None:
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    if content_type:
        environ["CONTENT_TYPE"] = content_type
