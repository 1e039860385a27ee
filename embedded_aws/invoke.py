"""One S3 event through the worker in a fresh process, as one Lambda invocation is.

`python -m embedded_aws.invoke TIMEOUT < event.json`: the embedded AWS's pump runs each event
this way when LOCAL_WORKER=process, so a crash or a memory blow-up ends that invocation
only, and its peak memory is measured alone. The last line of output is a JSON summary.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from app import logs
from app.worker import handle_s3_event

from .context import LambdaContext

logger = logging.getLogger("embedded_aws.invoke")  # not __main__: it runs with -m


def main() -> int:
    logs.setup()
    logs.setup(root="embedded_aws")
    timeout = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    event = json.load(sys.stdin)
    started = time.perf_counter()
    try:
        handle_s3_event(event, LambdaContext("thumbs-local-worker", timeout))
        ok = True
    except Exception:  # the worker recorded it on the job; the pump retries the event
        ok = False
    logs.event(
        logger,
        "invocation",
        ok=ok,
        peak_rss_mb=round(logs.peak_rss_mb(), 1),
        duration_ms=round((time.perf_counter() - started) * 1000),
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
