"""What AWS answers when it refuses a request: S3's XML error, or another service's shape."""

from __future__ import annotations

import json
import uuid
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

# Services whose errors are XML in an <ErrorResponse> (the query protocol); the others JSON.
_QUERY_PROTOCOL = {"sts", "iam", "cloudformation", "sns", "ec2", "elasticloadbalancing"}


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
