"""The embedded AWS in a process of its own: `python -m embedded_aws`, or a command like it."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_ANNOUNCED = re.compile(r"ready on (http://[\w.-]+:\d+)")


class NotReady(RuntimeError):
    """The embedded AWS stopped, or did not say it was ready in time."""


@contextmanager
def running(
    environment: dict[str, str],
    log: Callable[[str], None],
    ready_seconds: float = 60,
    command: tuple[str, ...] = (sys.executable, "-m", "embedded_aws", "--port", "0"),
    cwd: str | None = None,
) -> Iterator[str]:
    """Run `command` (by default `python -m embedded_aws --port 0`) with `environment`; hand
    each line it prints to `log`; yield its endpoint once it says "embedded AWS ready on URL".
    Stop it on the way out, or when it is not ready in `ready_seconds` (NotReady)."""
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue = queue.Queue()

    def drain() -> None:  # always read, so a full pipe never blocks the server
        for line in process.stdout:
            log(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    try:
        yield _ready(lines, ready_seconds)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(lines: queue.Queue, seconds: float) -> str:
    """Return the endpoint announced in "embedded AWS ready on http://127.0.0.1:PORT"."""
    try:
        while (line := lines.get(timeout=seconds)) is not None:
            # print() writes the line and its newline apart: a log line of another thread may
            # land between them, on the same line.
            if announced := _ANNOUNCED.search(line):
                return announced.group(1)
    except queue.Empty:
        raise NotReady(f"the embedded AWS did not say it was ready within {seconds} s") from None
    raise NotReady("the embedded AWS stopped before it was ready")
