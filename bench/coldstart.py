"""Cold start: `python -m bench.coldstart [--quick] [--runs N]`.

How long a fresh process takes to import the Lambda entry point (`import wsgi`, which builds
the app) against `import flask, boto3`, the least any Flask site on Lambda imports; target at
most 1.2x. Each run is a fresh process and the two are measured in turns, so a busy machine
slows both alike; the figure is the median. Also reports the Lambda package's size and, when
`make package` has built it, the same comparison inside the unpacked package on Python 3.12,
where Zappa's handler is what Lambda imports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "build" / "thumbs-dev.zip"
PYTHON312 = ROOT / ".venv312" / "bin" / "python"
TARGET = 1.2
MB = 1024 * 1024

BASELINE = "import flask, boto3"
ENTRY_POINT = "import wsgi"
# What Lambda runs first in the package: Zappa's handler, which imports wsgi on its first event.
PACKAGED_ENTRY_POINT = "import handler; handler.LambdaHandler()"


def production_environment() -> dict[str, str]:
    """A production configuration with fake credentials: no embedded AWS, no AWS call."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return {
        **keep,
        "STAGE": "bench",
        "SECRET_KEY": "bench-" + "k" * 40,
        "SITE_ORIGIN": "https://site.example",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "thumbs-bench",
    }


def import_seconds(python: Path | str, statement: str, cwd: Path, env: dict) -> float:
    """Return how long `statement` takes in a fresh process (interpreter start-up excluded)."""
    code = (
        "import time; _t = time.perf_counter()\n"
        + statement.replace("; ", "\n")
        + "\nprint(time.perf_counter() - _t)"
    )
    done = subprocess.run(
        [str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def compare(
    python, entry: str, cwd: Path, env: dict, runs: int, also: tuple[str, ...] = ()
) -> tuple[float, ...]:
    """Return the median seconds of the baseline, of `entry` and of `also`, measured in turns."""
    statements = (BASELINE, entry, *also)
    for statement in statements:  # unmeasured: compiles what changed, fills the cache
        import_seconds(python, statement, cwd, env)
    times: list[list[float]] = [[] for _ in statements]
    for _ in range(runs):
        for measured, statement in zip(times, statements, strict=True):
            measured.append(import_seconds(python, statement, cwd, env))
    return tuple(statistics.median(measured) for measured in times)


def package_size(path: Path) -> tuple[int, int]:
    """Return the zip's size and the size of what it unpacks to, in bytes."""
    with zipfile.ZipFile(path) as archive:
        return path.stat().st_size, sum(item.file_size for item in archive.infolist())


def report(label: str, baseline: float, measured: float) -> bool:
    ratio = measured / baseline
    met = ratio <= TARGET
    print(
        f"  {label}: {measured * 1000:.0f} ms against {baseline * 1000:.0f} ms for "
        f"`{BASELINE}`: {ratio:.2f}x ({'meets' if met else 'misses'} the {TARGET}x target)"
    )
    return met


def packaged(runs: int) -> None:
    """Measure inside the unpacked package, on the Python 3.12 it was built with."""
    with tempfile.TemporaryDirectory(prefix="thumbs-package-") as folder:
        with zipfile.ZipFile(PACKAGE) as archive:
            archive.extractall(folder)
        # Lambda's /var/task is read-only: the package's own .pyc files are all there is.
        env = {**production_environment(), "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        baseline, measured, handler = compare(
            PYTHON312, ENTRY_POINT, Path(folder), env, runs, also=(PACKAGED_ENTRY_POINT,)
        )
    report(f"`{ENTRY_POINT}` in the package, on Python 3.12", baseline, measured)
    print(
        f"  with Zappa's handler (`{PACKAGED_ENTRY_POINT}`, what Lambda runs): "
        f"{handler * 1000:.0f} ms, {(handler - measured) * 1000:+.0f} ms against wsgi alone"
    )


def main(argv: list[str]) -> int:
    """Print the cold-import comparison and the package's size."""
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart")
    parser.add_argument("--quick", action="store_true", help="5 runs instead of 15")
    parser.add_argument("--runs", type=int, help="runs of each import")
    args, _ = parser.parse_known_args(argv)
    runs = args.runs or (5 if args.quick else 15)
    print(f"Cold start (median of {runs} fresh processes each):")
    baseline, measured = compare(sys.executable, ENTRY_POINT, ROOT, production_environment(), runs)
    report(
        f"`{ENTRY_POINT}` on Python {sys.version_info.major}.{sys.version_info.minor}",
        baseline,
        measured,
    )
    if not PACKAGE.exists():
        print("  The package is not built: `make package` builds it (then run this again).")
        return 0
    zipped, unpacked = package_size(PACKAGE)
    print(
        f"  Package {PACKAGE.relative_to(ROOT)}: {zipped / MB:.1f} MiB zipped (Lambda's "
        f"limit: 50 MiB), {unpacked / MB:.1f} MiB unpacked (limit: 250 MiB)"
    )
    if PYTHON312.exists():
        packaged(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
