"""Feed S3 events from the embedded AWS's queue to the worker, as Lambda's S3 trigger does."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from .context import LambdaContext

logger = logging.getLogger(__name__)


class Pump(threading.Thread):
    """Receive S3 events from SQS and hand each to `handler(event, context)`.

    Like Lambda's asynchronous invocation, a failed event is tried again, up to
    `max_receives` times in all, then dropped with a log line.
    """

    def __init__(
        self,
        sqs,
        queue_url: str,
        handler,
        *,
        timeout_seconds: float = 60,
        max_receives: int = 3,
        workers: int = 4,
        copies: int = 1,
    ):
        super().__init__(name="embedded-aws-pump", daemon=True)
        self._sqs, self._queue_url, self._handler = sqs, queue_url, handler
        self._timeout, self._max_receives = timeout_seconds, max_receives
        # S3 delivers at least once: `copies` > 1 delivers every event that often, at once.
        self._copies = copies
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")
        self._slots = threading.BoundedSemaphore(workers)
        self._copy_pool = ThreadPoolExecutor(
            max_workers=max(1, workers * copies), thread_name_prefix="copy"
        )
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            free = self._free_slots()
            try:
                response = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=free,
                    WaitTimeSeconds=1,
                    AttributeNames=["ApproximateReceiveCount"],
                )
            except Exception:  # the server may be going away; say so and keep trying
                logger.exception("embedded AWS: cannot receive S3 events")
                self._release(free)
                self._stopping.wait(1)
                continue
            messages = response.get("Messages", [])
            self._release(free - len(messages))
            for message in messages:
                self._pool.submit(self._deliver_then_release, message)

    def _free_slots(self) -> int:
        """Wait for a free worker, then take every other free one (at most 10: SQS's batch)."""
        self._slots.acquire()
        taken = 1
        while taken < 10 and self._slots.acquire(blocking=False):
            taken += 1
        return taken

    def _release(self, count: int) -> None:
        for _ in range(count):
            self._slots.release()

    def _deliver_then_release(self, message: dict) -> None:
        try:
            self._deliver(message)
        except Exception:  # SQS itself failed; the message comes back after its timeout
            logger.exception("embedded AWS: could not settle an S3 event")
        finally:
            self._slots.release()

    def _deliver(self, message: dict) -> None:
        event = json.loads(message["Body"])
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        deliveries = [
            self._copy_pool.submit(
                self._handler, event, LambdaContext("thumbs-local-worker", self._timeout)
            )
            for _ in range(self._copies)
        ]
        try:
            for delivery in deliveries:
                delivery.result()
        except Exception:
            if receives < self._max_receives:
                logger.exception("worker failed on attempt %d; it will be retried", receives)
                # Lambda waits a minute before a retry; a second is kinder locally.
                self._sqs.change_message_visibility(
                    QueueUrl=self._queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=receives,
                )
                return
            logger.exception("worker failed %d times; dropping the event", receives)
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])


def in_a_fresh_process(timeout_seconds: float):
    """Return a handler that runs each event in its own process, killed at the timeout."""

    def invoke(event: dict, context) -> None:
        try:
            finished = subprocess.run(
                [sys.executable, "-m", "embedded_aws.invoke", str(timeout_seconds)],
                input=json.dumps(event),
                text=True,
                timeout=timeout_seconds,
            )
        except subprocess.TimeoutExpired as error:
            raise InvocationFailed(f"timed out after {timeout_seconds} s") from error
        if finished.returncode != 0:
            raise InvocationFailed(f"exited with status {finished.returncode}")

    return invoke


class InvocationFailed(Exception):
    """A worker process failed, crashed or ran out of time."""
