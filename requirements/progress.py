"""Turn pip's install output into one line a package: `pip install ... 2>&1 | progress.py LOCK`.

`progress.py --count LOCK` says how many packages a lock pins; `progress.py --errors` passes
only pip's errors (for a quiet install).

pip names each package of a lock once, in one of four forms, and the count must reach the
lock's size whichever it uses: `Collecting name==1.0` (from an index), `Processing
/path/name-1.0-py3-none-any.whl` (a local file or wheel folder), `Requirement already
satisfied: name==1.0 in ...` (installed before), or `Ignoring name: markers ... don't match`
(not for this platform). Errors are passed through whole; the rest (pip's warnings about this
machine's indexes, download bars) is noise to a newcomer.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

_LOCKED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", re.M)
# A requirement as pip prints it: its name, maybe extras, maybe `==version`.
_REQUIREMENT = r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?(?:==([^\s;,]+))?"
_NAMED = (
    (re.compile(rf"^Collecting {_REQUIREMENT}"), ""),
    (re.compile(rf"^Requirement already satisfied: {_REQUIREMENT}"), "installed before"),
    (re.compile(r"^Ignoring ([A-Za-z0-9][A-Za-z0-9._-]*):()"), "not for this platform"),
)
_FILE = re.compile(r"^Processing (\S+)")


def locked(lock: Path) -> int:
    """Return how many packages a lock pins."""
    return len(_LOCKED.findall(lock.read_text()))


def normalize(name: str) -> str:
    """Return a package's name as PEP 503 compares names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def package(line: str) -> tuple[str, str] | None:
    """Return (name==version, or name, and a note) when `line` names a package of the lock."""
    if match := _FILE.match(line):
        return _from_file(match[1]), ""
    for pattern, note in _NAMED:
        if match := pattern.match(line):
            name, version = normalize(match[1]), match[2]
            return (f"{name}=={version}" if version else name), note
    return None


def _from_file(path: str) -> str:
    """Return name==version from a wheel's or an sdist's file name."""
    stem = Path(path).name
    for ending in (".whl", ".tar.gz", ".zip"):
        stem = stem.removesuffix(ending)
    name, _, rest = stem.partition("-")
    return f"{normalize(name)}=={rest.split('-', 1)[0]}" if rest else normalize(name)


def progress(lines: Iterable[str], total: int) -> Iterator[str]:
    """Yield what a person should see of pip's lines: `[n/N] package`, errors, the end."""
    seen: set[str] = set()
    failing = False
    for line in lines:
        line = line.rstrip("\n")
        failing = failing or line.startswith("ERROR")
        if failing:
            yield line
            continue
        found = package(line)
        if found and found[0].split("==")[0] not in seen:
            seen.add(found[0].split("==")[0])
            note = f" ({found[1]})" if found[1] else ""
            yield f"  [{len(seen)}/{total}] {found[0]}{note}"
        elif line.startswith("Successfully installed"):
            yield "  installed"


def errors(lines: Iterable[str]) -> Iterator[str]:
    """Yield pip's lines from its first error on: all a quiet install should show."""
    failing = False
    for line in lines:
        failing = failing or line.startswith("ERROR")
        if failing:
            yield line.rstrip("\n")


def main(argv: list[str]) -> None:
    if argv[1] == "--count":
        print(locked(Path(argv[2])))
        return
    if argv[1] == "--errors":
        for shown in errors(sys.stdin):
            print(shown, flush=True)
        return
    total = locked(Path(argv[1]))
    for shown in progress(sys.stdin, total):
        print(shown, flush=True)


if __name__ == "__main__":
    main(sys.argv)
