"""One event through a handler in a fresh process, as one Lambda invocation is.

`python -m embedded_aws.invoke package.module:function TIMEOUT < event.json`: a pump runs each
event this way (`pump.in_a_fresh_process`), so a crash or a memory blow-up ends that
invocation only, and its peak memory is measured alone. The last line it prints is a JSON
summary: `{"event": "invocation", "ok": ..., "peak_rss_mb": ..., "duration_ms": ...}`.
"""

from __future__ import annotations

import importlib
import json
import logging
import resource
import sys
import time

from .context import LambdaContext

logger = logging.getLogger("embedded_aws.invoke")  # not __main__: it runs with -m


def load(target: str):
    """Return the function `package.module:function` names."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def peak_rss_mb() -> float:
    """Return this process's peak resident memory, in MiB.

    Linux's VmHWM, not ru_maxrss: a process forked from a large parent reports the parent's
    peak there, not its own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    handler = load(argv[1])
    timeout = float(argv[2]) if len(argv) > 2 else 60.0
    event = json.load(sys.stdin)
    started = time.perf_counter()
    try:
        handler(event, LambdaContext(argv[1].rsplit(":", 1)[-1], timeout))
        ok = True
    except Exception:  # Lambda reports it and retries the event: so does the pump
        logger.exception("the handler failed")
        ok = False
    summary = {
        "event": "invocation",
        "ok": ok,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "duration_ms": round((time.perf_counter() - started) * 1000),
    }
    print(json.dumps(summary), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
