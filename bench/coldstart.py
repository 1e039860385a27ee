"""Cold start as Lambda sees it: `python -m bench.coldstart [--quick] [--runs N]`.

On the package `make package` builds (rebuilt first if a source changed), unpacked, on the
Python 3.12 it was built with: a fresh process imports the function's entry point, builds
Zappa's `LambdaHandler` and serves a first `GET /` API Gateway event, to the first byte of the
response (the page rendered, the job store's client built, the secret read from a stub SSM).
The same is done for a bare Flask + boto3 function packaged the same way (Zappa's own handler
its entry point), and the two are run in turns, so a busy machine slows both alike. Target: at
most 1.1x the bare function.

Each time is the median of `--runs` fresh processes, and the ratio the median of each turn's
ratio; the whole is run twice and both repeats are printed, so a reader sees whether they
agree. `-X importtime` then says where the time goes, and a SnapStart instance, played with
the runtime's hooks, shows what is left once a snapshot is restored.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import io
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench import lambda_path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "build" / "thumbs-dev.zip"
PYTHON312 = ROOT / ".venv312" / "bin" / "python"
TARGET = 1.1
REPEATS = 2
AGREE = 0.05  # repeats must agree within 5%
IMPORT_RUNS = 3
PHASES = {
    "import_handler": "import the handler Lambda calls",
    "build_handler": "build LambdaHandler (imports wsgi: the app)",
    "first_response": "serve the first GET /",
}
MB = 1024 * 1024


def _lambda_stage():
    """tests/lambda_stage.py: the stage's Zappa settings, Lambda's environment, API events."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.append(tests)
    import lambda_stage

    return lambda_stage


def lambda_environment(ssm_url: str) -> dict[str, str]:
    """The dev stage's Lambda environment, with fake credentials and SSM on `ssm_url`."""
    stage = _lambda_stage()
    # Zappa reads the stage's files relative to the checkout, and prints warnings as it goes.
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(io.StringIO()):
        stage_config = stage.zappa_cli("dev").stage_config
    return {
        **stage.lambda_environment(stage_config, "thumbs-dev"),
        "SITE_ORIGIN": f"https://{stage.API_HOST}",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_SSM": ssm_url,  # only SSM: S3 and DynamoDB keep AWS's endpoints
        # Lambda's /var/task is read-only: the package's own .pyc files are all there is.
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    }


def first_page_event() -> dict:
    """A visitor's first `GET /` on the stage's default URL, as API Gateway passes it on."""
    stage = _lambda_stage()
    accept = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    return stage.rest_event("GET", "/", "", accept, None, "dev", stage.API_HOST)


@contextlib.contextmanager
def build_lock():
    """Serialize package builds: test runs may build in this working tree at the same time."""
    PACKAGE.parent.mkdir(exist_ok=True)
    with open(PACKAGE.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_package() -> None:
    """Run `make package`, which rebuilds the zip only when a source is newer."""
    with build_lock():
        done = subprocess.run(
            ["make", "--no-print-directory", "package"], cwd=ROOT, capture_output=True, text=True
        )
    if done.returncode:
        raise SystemExit(f"make package failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def measure(python, tasks: dict[str, Path], event: dict, env: dict, runs: int) -> dict:
    """Return each task's phases, `runs` fresh processes each, the tasks taking turns."""
    names = list(tasks)
    for name in names:  # unmeasured: brings the files into the page cache
        lambda_path.first_response(python, tasks[name], event, env)
    results: dict[str, list[dict]] = {name: [] for name in names}
    for run in range(runs):
        for name in names if run % 2 == 0 else reversed(names):
            reply = lambda_path.first_response(python, tasks[name], event, env)
            if reply["status"] != 200:
                raise RuntimeError(f"{name} answered {reply['status']}: {reply['body'][:500]}")
            results[name].append(reply)
    return results


def medians(replies: list[dict]) -> dict[str, float]:
    """Return the median of every timed figure of `replies`."""
    keys = [key for key, value in replies[0].items() if isinstance(value, float)]
    return {key: statistics.median(r[key] for r in replies) for key in keys}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def report_repeat(number: int, thumbs: list[dict], bare: list[dict]) -> float:
    """Print one repeat's figures against the target; return its ratio.

    The ratio is the median of each turn's ratio: a turn's two processes run back to back, so
    a burst of load on the machine slows both, where it would skew one median alone.
    """
    ratio = statistics.median(t["total"] / b["total"] for t, b in zip(thumbs, bare))
    cpu = statistics.median(t["cpu"] / b["cpu"] for t, b in zip(thumbs, bare))
    ours, theirs = medians(thumbs), medians(bare)
    verdict = "meets" if ratio <= TARGET else f"misses by {(ratio / TARGET - 1) * 100:.0f}%"
    print(
        f"  repeat {number}: Thumbs {ms(ours['total'])}, bare Flask + boto3 "
        f"{ms(theirs['total'])}: {ratio:.2f}x ({verdict}: the target is {TARGET}x); "
        f"CPU time {ms(ours['cpu'])} against {ms(theirs['cpu'])}: {cpu:.2f}x"
    )
    return ratio


def report_phases(thumbs: list[dict], bare: list[dict]) -> None:
    """Print where each function's time goes, phase by phase (medians of every run)."""
    ours, theirs = medians(thumbs), medians(bare)
    print(f"  {'phase (median of every run)':<48}{'Thumbs':>9}{'bare':>9}{'gap':>9}")
    for key, label in PHASES.items():
        gap = ours[key] - theirs[key]
        print(f"    {label:<46}{ms(ours[key]):>9}{ms(theirs[key]):>9}{gap * 1000:>+6.0f} ms")


def report_imports(python, tasks: dict[str, Path], event: dict, env: dict, top: int = 8) -> None:
    """Print the top imports of each function, and what Thumbs imports beyond the bare one."""
    times = {}
    for name, task in tasks.items():
        runs = [lambda_path.import_times(python, task, event, env) for _ in range(IMPORT_RUNS)]
        times[name] = {
            package: statistics.median(run.get(package, 0.0) for run in runs)
            for package in set().union(*runs)
        }
    print(f"  top imports (-X importtime; each package's own time, median of {IMPORT_RUNS} runs):")
    for name, packages in times.items():
        ranked = sorted(packages.items(), key=lambda item: -item[1])[:top]
        listed = ", ".join(f"{package} {ms(seconds)}" for package, seconds in ranked)
        print(f"    {name} ({ms(sum(packages.values()))} in all): {listed}")
    thumbs, bare = times["Thumbs"], times["bare"]
    extra = {p: s - bare.get(p, 0.0) for p, s in thumbs.items() if s - bare.get(p, 0.0) > 0.0015}
    ranked = sorted(extra.items(), key=lambda item: -item[1])[:top]
    print(
        "    Thumbs beyond the bare function: "
        + (", ".join(f"{package} +{ms(seconds)}" for package, seconds in ranked) or "nothing")
    )


def report_snapstart(python, task: Path, event: dict, env: dict, runs: int, cold: dict) -> None:
    """Print what a SnapStart instance does after its restore, as far as it runs offline."""
    restored = [
        lambda_path.first_response(python, task, event, env, snapstart=True) for _ in range(runs)
    ]
    if restored[0]["hooks"] != [1, 1] or any(r["status"] != 200 for r in restored):
        raise RuntimeError(f"the SnapStart hooks did not run as expected: {restored[0]}")
    times = medians(restored)
    print(
        f"  SnapStart (median of {runs}): the before-snapshot hook takes "
        f"{ms(times['before_snapshot'])} when a version is published; a restored instance "
        f"then runs the after-restore hook ({ms(times['after_restore'])}) and serves GET / "
        f"({ms(times['first_response'])}): {ms(times['total'])} of Python against "
        f"{ms(cold['total'])} cold, plus Lambda's own restore, which only Lambda can measure"
    )


def packaged(runs: int) -> list[float]:
    """Measure the unpacked package against the bare function; return each repeat's ratio."""
    with tempfile.TemporaryDirectory(prefix="thumbs-coldstart-") as scratch:
        folder = Path(scratch)
        with zipfile.ZipFile(PACKAGE) as archive:
            archive.extractall(folder / "thumbs")
        thumbs, bare = lambda_path.lay_out(folder / "thumbs", folder, PYTHON312)
        tasks = {"Thumbs": thumbs, "bare": bare}
        event = first_page_event()
        with lambda_path.StubSSM() as ssm:
            env = lambda_environment(ssm.url)
            print(
                f"Cold start as Lambda sees it: {PACKAGE.relative_to(ROOT)} on Python 3.12, "
                "import of the handler to the first byte of GET / "
                f"(median of {runs} fresh processes each, the two in turns; SSM stubbed on "
                f"127.0.0.1; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs):"
            )
            repeats = [measure(PYTHON312, tasks, event, env, runs) for _ in range(REPEATS)]
            reads = ssm.calls
            ratios = [report_repeat(n, r["Thumbs"], r["bare"]) for n, r in enumerate(repeats, 1)]
            spread = (max(ratios) - min(ratios)) / min(ratios)
            print(
                f"  the repeats' ratios differ by {spread * 100:.1f}% "
                f"({'within' if spread <= AGREE else 'more than'} {AGREE * 100:.0f}%); "
                f"Thumbs read its secret from the stub SSM in {reads} of "
                f"{REPEATS * (runs + 1)} cold starts"
            )
            every = {name: [r for rep in repeats for r in rep[name]] for name in tasks}
            report_phases(every["Thumbs"], every["bare"])
            report_imports(PYTHON312, tasks, event, env)
            report_snapstart(PYTHON312, thumbs, event, env, runs, medians(every["Thumbs"]))
    return ratios


def package_size(path: Path) -> tuple[int, int]:
    """Return the zip's size and the size of what it unpacks to, in bytes."""
    with zipfile.ZipFile(path) as archive:
        return path.stat().st_size, sum(item.file_size for item in archive.infolist())


def main(argv: list[str]) -> int:
    """Print the package's cold start against the bare function's, and the package's size."""
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart")
    parser.add_argument("--quick", action="store_true", help="5 runs a repeat instead of 15")
    parser.add_argument("--runs", type=int, help="fresh processes per function and repeat")
    args, _ = parser.parse_known_args(argv)
    runs = args.runs or (5 if args.quick else 15)
    build_package()
    zipped, unpacked = package_size(PACKAGE)
    packaged(runs)
    print(
        f"  Package {PACKAGE.relative_to(ROOT)}: {zipped / MB:.1f} MiB zipped (Lambda's "
        f"limit: 50 MiB), {unpacked / MB:.1f} MiB unpacked (limit: 250 MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
