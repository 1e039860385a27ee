"""Structured logs: one JSON object a line, with the job id and the visitor's owner tag.

Every line names the Lambda invocation it belongs to (`aws_request_id`, `cold_start`).
CloudWatch Logs Insights reads each field of such a line (`filter event = "job_done"`), and
the lines that carry metrics carry them in CloudWatch's Embedded Metric Format (an `_aws`
block), so CloudWatch makes metrics of them at no extra call: alarms need no query. A visitor
id is never logged, only its owner tag (a keyed digest); tickets and presigned URLs never.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime

ROOT = "app"
NAMESPACE = "Thumbs"  # the CloudWatch namespace of the metrics
_invocation: ContextVar[dict | None] = ContextVar("invocation", default=None)
_cold = [True]  # the first invocation of this process is its cold start


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line: time, level, logger, event, and its fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(_invocation.get() or {})
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


# The path segment after /jobs/ is a ticket, after /shared/ a share token: each is as good as a
# key to what it names.
_SECRET_SEGMENT = re.compile(r"/(jobs|shared)/[^/\s?#\"']+")
_PLACEHOLDER = {"jobs": "/jobs/<ticket>", "shared": "/shared/<token>"}


def redact_paths(text: str) -> str:
    """Return `text` with the ticket or share token of every site path in it replaced."""
    return _SECRET_SEGMENT.sub(lambda match: _PLACEHOLDER[match.group(1)], text)


class RedactedPaths(logging.Filter):
    """Log a record's message with its paths redacted (a server's access line, say)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact_paths(record.getMessage()), ()
        return True


class _Stdout(logging.StreamHandler):
    """A handler on whatever sys.stdout is now (test runners swap it)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def setup(level: str = "INFO", root: str = ROOT) -> None:
    """Send the app's logs (or `root`'s) to stdout as JSON lines (once per process)."""
    logger = logging.getLogger(root)
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = _Stdout()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    # Lambda's runtime has its own root handler: without this every line would appear twice.
    logger.propagate = False


def invocation(context) -> None:
    """Note the Lambda invocation under way (its context): every line until the next names it."""
    cold, _cold[0] = _cold[0], False
    _invocation.set(
        {"aws_request_id": getattr(context, "aws_request_id", None), "cold_start": cold}
    )


def metrics(dimensions: dict[str, str], units: dict[str, str]) -> dict:
    """Return the fields that make a line's values named in `units` metrics (Embedded Metric
    Format): the line must hold each of them. `units` gives each one's unit ("Milliseconds",
    "Count"); a metric is recorded per the first dimension (the stage), and per all of them.
    """
    names = list(dimensions)
    dimension_sets = [names[:1], names] if len(names) > 1 else [names]
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": dimension_sets,
                    "Metrics": [{"Name": name, "Unit": unit} for name, unit in units.items()],
                }
            ],
        },
        **dimensions,
    }


def peak_rss_mb() -> float:
    """Return this process's peak resident memory (VmHWM), in MiB.

    Not ru_maxrss: a child forked from a large parent reports the parent's peak there.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def event(
    logger: logging.Logger, name: str, level: int = logging.INFO, exc_info=None, **fields
) -> None:
    """Log `name` with `fields` as one structured line."""
    logger.log(level, name, exc_info=exc_info, extra={"fields": fields})
