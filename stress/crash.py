"""A worker invocation that dies at a chosen step: `python -m stress.crash STEP MODE < event`.

MODE `error` raises (the worker records it and Lambda retries); MODE `kill` ends the
process on the spot, as a timeout or an out-of-memory kill does, with no chance to record.
"""

from __future__ import annotations

import json
import os
import sys

from app import imaging, worker
from app.jobs import JobStore
from app.storage import Storage
from embedded_aws.context import LambdaContext

STEPS = ("after_claim", "after_read", "after_one_rendition", "before_done")


def crash(mode: str):
    def die(*args, **kwargs):
        if mode == "kill":
            os._exit(137)
        raise RuntimeError("injected crash")

    return die


def arm(step: str, mode: str) -> None:
    if step == "after_claim":
        Storage.read_source = crash(mode)
    elif step == "after_read":
        imaging.make_renditions = crash(mode)
    elif step == "after_one_rendition":
        real, written = Storage.write_rendition, []

        def write_one(self, job_id, rendition):
            if written:
                crash(mode)()
            written.append(rendition.name)
            return real(self, job_id, rendition)

        Storage.write_rendition = write_one
    elif step == "before_done":
        JobStore.finish = crash(mode)
    else:
        raise SystemExit(f"unknown step {step}; one of {STEPS}")


def main() -> int:
    step, mode, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if step != "none":
        arm(step, mode)
    worker.handle_s3_event(json.load(sys.stdin), LambdaContext("thumbs-stress-worker", timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
