"""Lock every dependency tree with hashes, from the short lists people edit: `make lock`
(`python requirements/lock.py LOCK ...`: only those).

Each lock (`*.txt`) is made by uv from its list (`*.in`) and starts with the SHA-256 of that
list and of every file it includes, so a test can tell, offline, that a lock is out of date.
Everything installs from the locks, with pip's hash checking: `make`, `.ci/run`, the package.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDA = ["--python-version", "3.12", "--python-platform", "x86_64-manylinux_2_28"]
LAMBDA_ARM64 = ["--python-version", "3.12", "--python-platform", "aarch64-manylinux_2_28"]
DEVELOPMENT = ["--universal", "--python-version", "3.11"]
# (list, lock, how it is resolved): Lambda's own for what ships, any Linux Python 3.11+ else.
LOCKS = [
    ("requirements.in", "requirements.txt", LAMBDA),
    # Lambda on arm64: requirements.txt's versions (a constraint), resolved for aarch64.
    ("requirements/lambda-arm64.in", "requirements/lambda-arm64.txt", LAMBDA_ARM64),
    ("requirements/handler.in", "requirements/handler.txt", [*LAMBDA, "--no-deps"]),
    ("requirements/run.in", "requirements/run.txt", DEVELOPMENT),
    ("requirements/test.in", "requirements/test.txt", DEVELOPMENT),
    ("requirements/bench.in", "requirements/bench.txt", DEVELOPMENT),
    ("requirements/deploy.in", "requirements/deploy.txt", LAMBDA),
]
_INCLUDE = re.compile(r"^\s*-[rc]\s+(\S+)", re.M)


def inputs(listed: Path) -> list[Path]:
    """Return a list and every file it includes (-r) or is constrained by (-c), in order."""
    found, queue = [], [listed]
    while queue:
        path = queue.pop(0).resolve()
        if path in found:
            continue
        found.append(path)
        queue += [path.parent / name for name in _INCLUDE.findall(path.read_text())]
    return found


def digest(listed: Path) -> str:
    """Return the SHA-256 of a list and of everything it includes, as a lock records it."""
    sha = hashlib.sha256()
    for path in inputs(listed):
        sha.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


def header(listed: str) -> str:
    return (
        f"# Locked from {listed} by `make lock` (uv pip compile); do not edit.\n"
        f"# inputs-sha256: {digest(ROOT / listed)}\n"
    )


def recorded(lock: Path) -> str | None:
    """Return the inputs' SHA-256 a lock was made from."""
    match = re.search(r"^# inputs-sha256: ([0-9a-f]{64})$", lock.read_text(), re.M)
    return match.group(1) if match else None


def main(only: list[str]) -> int:
    for listed, lock, options in LOCKS:
        if only and lock not in only:
            continue
        out = ROOT / lock
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "uv",
                "pip",
                "compile",
                str(ROOT / listed),
                "--quiet",
                "--generate-hashes",
                "--no-header",
                *options,
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if done.returncode:
            sys.stderr.write(done.stderr)
            return done.returncode
        # uv names the list that asked for each package by its path: make it the project's.
        body = done.stdout.replace(str(ROOT) + "/", "")
        out.write_text(header(listed) + body)
        print(f"locked {lock}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
