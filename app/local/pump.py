"""Feed S3 events from the embedded AWS's queue to the worker, as Lambda's S3 trigger does."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)


class LocalContext:
    """The parts of a Lambda context the worker reads."""

    function_name = "thumbs-local-worker"

    def __init__(self, timeout_seconds: float):
        self.aws_request_id = str(uuid.uuid4())
        self._ends_at = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends_at - time.monotonic()) * 1000))


class Pump(threading.Thread):
    """Receive S3 events from SQS and hand each to `handler(event, context)`.

    Like Lambda's asynchronous invocation, a failed event is tried again, up to
    `max_receives` times in all, then dropped with a log line.
    """

    def __init__(self, sqs, queue_url: str, handler, *, timeout_seconds: float = 60,
                 max_receives: int = 3, workers: int = 2, copies: int = 1):
        super().__init__(name="embedded-aws-pump", daemon=True)
        self._sqs, self._queue_url, self._handler = sqs, queue_url, handler
        self._timeout, self._max_receives = timeout_seconds, max_receives
        # S3 delivers at least once: `copies` > 1 delivers every event that often, at once.
        self._copies = copies
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")
        self._copy_pool = ThreadPoolExecutor(max_workers=max(1, workers * copies),
                                             thread_name_prefix="copy")
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                response = self._sqs.receive_message(
                    QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                    AttributeNames=["ApproximateReceiveCount"],
                )
            except Exception:  # the server may be going away; say so and keep trying
                logger.exception("embedded AWS: cannot receive S3 events")
                self._stopping.wait(1)
                continue
            messages = response.get("Messages", [])
            list(self._pool.map(self._deliver, messages))

    def _deliver(self, message: dict) -> None:
        event = json.loads(message["Body"])
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        deliveries = [self._copy_pool.submit(self._handler, event, LocalContext(self._timeout))
                      for _ in range(self._copies)]
        try:
            for delivery in deliveries:
                delivery.result()
        except Exception:
            if receives < self._max_receives:
                logger.exception("worker failed on attempt %d; it will be retried", receives)
                # Lambda waits a minute before a retry; a second is kinder locally.
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=receives)
                return
            logger.exception("worker failed %d times; dropping the event", receives)
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])


def in_a_fresh_process(timeout_seconds: float):
    """Return a handler that runs each event in its own process, killed at the timeout."""
    def invoke(event: dict, context) -> None:
        try:
            finished = subprocess.run(
                [sys.executable, "-m", "app.local.invoke", str(timeout_seconds)],
                input=json.dumps(event), text=True, timeout=timeout_seconds)
        except subprocess.TimeoutExpired as error:
            raise InvocationFailed(f"timed out after {timeout_seconds} s") from error
        if finished.returncode != 0:
            raise InvocationFailed(f"exited with status {finished.returncode}")
    return invoke


class InvocationFailed(Exception):
    """A worker process failed, crashed or ran out of time."""
