"""The Lambda context object, as the runtime hands it to a handler."""

from __future__ import annotations

import time
import uuid


class LambdaContext:
    """A Lambda invocation's context: its request id and the time it has left."""

    def __init__(
        self,
        function_name: str = "embedded-function",
        timeout_seconds: float = 60,
        memory_limit_in_mb: int = 1024,
    ):
        self.function_name = function_name
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self._ends_at = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends_at - time.monotonic()) * 1000))
