"""One S3 event through the worker in a fresh process, as one Lambda invocation is.

`python -m app.local.invoke TIMEOUT < event.json`: the embedded AWS's pump runs each event
this way when LOCAL_WORKER=process, so a crash or a memory blow-up ends that invocation
only, and its peak memory is measured alone. The last line of output is a JSON summary.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from .. import logs
from ..worker import handle_s3_event
from .pump import LocalContext

logger = logging.getLogger("app.local.invoke")  # not __main__: it runs with -m


def peak_rss_mb() -> float:
    """Return this process's peak resident memory (VmHWM), in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> int:
    logs.setup()
    timeout = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    event = json.load(sys.stdin)
    started = time.perf_counter()
    try:
        handle_s3_event(event, LocalContext(timeout))
        ok = True
    except Exception:  # the worker recorded it on the job; the pump retries the event
        ok = False
    logs.event(logger, "invocation", ok=ok, peak_rss_mb=round(peak_rss_mb(), 1),
               duration_ms=round((time.perf_counter() - started) * 1000))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
