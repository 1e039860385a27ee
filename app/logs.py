"""Structured logs: one JSON object a line, with the job id and a hash of the visitor.

CloudWatch Logs Insights reads each field of such a line (`filter event = "job_done"`).
A visitor id is never logged, only its hash; tickets and presigned URLs are never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from datetime import UTC, datetime

ROOT = "app"


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line: time, level, logger, event, and its fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


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


def peak_rss_mb() -> float:
    """Return this process's peak resident memory (VmHWM), in MiB.

    Not ru_maxrss: a child forked from a large parent reports the parent's peak there.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def visitor_hash(visitor_id: str | None) -> str | None:
    """Return a stable, irreversible tag for a visitor, for logs."""
    if not visitor_id:
        return None
    return hashlib.sha256(f"thumbs-visitor:{visitor_id}".encode()).hexdigest()[:16]


def event(
    logger: logging.Logger, name: str, level: int = logging.INFO, exc_info=None, **fields
) -> None:
    """Log `name` with `fields` as one structured line."""
    logger.log(level, name, exc_info=exc_info, extra={"fields": fields})
