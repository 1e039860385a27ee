"""Build a stage's Lambda package from an allow-list: `python deploy/package.py STAGE OUT.zip`.

`zappa package` zips the working directory minus an exclude list, so whatever else lies in a
checkout (photos, a `.env`, a copy of the code) ships to Lambda. This builds the zip from what
Lambda runs, and nothing else:
- the app's files that git tracks (app/, templates/, static/, wsgi.py);
- the packages of the stage's lock, for Lambda's python3.12 on the stage's `architecture`
  (`requirements.txt` for x86_64, the default; `requirements/lambda-arm64.txt` for arm64), with
  pip's hash checking and binary wheels only, and Zappa's handler alone
  (`requirements/handler.txt`). Every native library is checked to be built for that
  architecture (its ELF header), so an arm64 package is built and checked on an x86 machine;
- the stage's `zappa_settings.py`, as `zappa package` writes it. Not the copy of Zappa's
  `handler.py` that `zappa package` puts at the root: Lambda calls `app.entry.lambda_handler`
  (the `lambda_handler` setting), which refuses the events the stage does not serve, and a
  function still configured for Zappa's own handler fails to start rather than run them;
- of botocore's service models, only those of the services the function calls, cut to the
  operations it calls (`FUNCTION_OPERATIONS`), without their documentation: the SDK is the
  tested one, at a fraction of its size, and each client it builds at a cold start reads a
  few kB of model instead of up to 1.5 MB.
Every module is compiled to hash-checked .pyc (Lambda unpacks the zip with its 1980 dates, so
timestamped ones would look stale and every cold start would compile), and the zip is made
the same, byte for byte, from the same inputs. Deploy it with `zappa deploy STAGE -z OUT.zip`.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("app", "templates", "static", "wsgi.py")
# The lock of what ships, for each of Lambda's architectures (the stage's `architecture`
# setting), and Zappa's handler, pure Python, for both.
LOCKS = {
    "x86_64": ROOT / "requirements.txt",
    "arm64": ROOT / "requirements" / "lambda-arm64.txt",
}
HANDLER_LOCK = ROOT / "requirements" / "handler.txt"
# The wheels pip may take for each (manylinux, Lambda's python3.12 on Amazon Linux 2023), and
# the ELF machine every native library in the package must be built for.
PLATFORMS = {
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    "arm64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
}
ELF_MACHINES = {"x86_64": 62, "arm64": 183}  # EM_X86_64, EM_AARCH64
_EPOCH = (1980, 1, 1, 0, 0, 0)
# The operations the function calls (web, worker, reconciler), and those boto3 reads to
# presign (CreateBucket for a POST form, GetObject for a link): botocore's models of these
# alone ship. tests/test_least_privilege.py checks every call the function makes is here.
FUNCTION_OPERATIONS = {
    "s3": (
        "GetObject",
        "HeadObject",
        "PutObject",
        "ListObjectsV2",
        "DeleteObject",
        "DeleteObjects",
        "CreateBucket",
    ),
    "dynamodb": ("GetItem", "BatchGetItem", "PutItem", "UpdateItem", "Query"),
    "ssm": ("GetParameter",),
    "lambda": ("Invoke",),
    # The account the buckets must belong to (ExpectedBucketOwner), asked once per process.
    "sts": ("GetCallerIdentity",),
}
FUNCTION_SERVICES = tuple(FUNCTION_OPERATIONS)
# What a service's model folder keeps (botocore reads the rest only for documentation,
# waiters and older API versions, which the function never uses).
_MODEL_FILES = ("service-2.", "paginators-1.", "endpoint-rule-set-1.")


class PackageError(RuntimeError):
    """The package cannot be built; the message says why."""


def tracked_files(root: Path = ROOT) -> list[str]:
    """Return the shipped files git tracks, as paths relative to `root`."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", *SHIPPED],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise PackageError(
            "The package is built from the files git tracks: run it in a git checkout."
        ) from error
    return sorted(name for name in listed.decode().split("\0") if name)


def dependencies(cache: Path, architecture: str = "x86_64") -> Path:
    """Install the locked packages for Lambda on `architecture` into a folder named by the
    locks' content: pip takes only binary wheels built for it, whatever this machine is."""
    locks = (LOCKS[architecture], HANDLER_LOCK)
    digest = hashlib.sha256(b"".join(lock.read_bytes() for lock in locks)).hexdigest()[:16]
    target = cache / f"lambda-site-{architecture}-{digest}"
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--require-hashes",
        "--no-compile",
        "--target",
        str(target),
        *[option for tag in PLATFORMS[architecture] for option in ("--platform", tag)],
        *("--python-version", "3.12", "--implementation", "cp", "--only-binary", ":all:"),
    ]
    subprocess.run([*pip, "-r", str(locks[0])], check=True)
    subprocess.run([*pip, "--no-deps", "-r", str(locks[1])], check=True)
    shutil.rmtree(target / "bin", ignore_errors=True)
    (target / ".complete").touch()
    return target


def prune_service_models(data: Path) -> None:
    """Keep, of botocore's service models, the latest of each service the function calls, cut
    to the operations it calls and the shapes they reach; keep botocore's shared files."""
    for folder in sorted(data.iterdir()):
        if not folder.is_dir():
            continue
        if folder.name not in FUNCTION_OPERATIONS:
            shutil.rmtree(folder)
            continue
        *older, latest = sorted(p for p in folder.iterdir() if p.is_dir())
        for version in older:
            shutil.rmtree(version)
        for path in sorted(latest.iterdir()):
            if not path.name.startswith(_MODEL_FILES):
                path.unlink()
        operations = FUNCTION_OPERATIONS[folder.name]
        _rewrite(latest / "service-2.json.gz", _cut_model, operations)
        for name in ("paginators-1.json", "paginators-1.sdk-extras.json"):
            _rewrite(latest / name, _cut_paginators, operations)


def _cut_model(model: dict, operations: tuple[str, ...]) -> dict:
    missing = set(operations) - set(model["operations"])
    if missing:
        raise PackageError(f"botocore's model has no {sorted(missing)}: check FUNCTION_OPERATIONS")
    kept = {name: model["operations"][name] for name in operations}
    reached, pending = set(), []
    for operation in kept.values():
        pending += [operation[k]["shape"] for k in ("input", "output") if k in operation]
        pending += [error["shape"] for error in operation.get("errors", [])]
    while pending:
        name = pending.pop()
        if name not in reached:
            reached.add(name)
            shape = model["shapes"][name]
            pending += [member["shape"] for member in shape.get("members", {}).values()]
            pending += [shape[k]["shape"] for k in ("member", "key", "value") if k in shape]
    shapes = {name: shape for name, shape in model["shapes"].items() if name in reached}
    # The operations' and shapes' documentation only: botocore requires the rest's.
    return {**model, "operations": _undocumented(kept), "shapes": _undocumented(shapes)}


def _cut_paginators(paging: dict, operations: tuple[str, ...]) -> dict:
    if "merge" in paging:  # an sdk-extras file
        return {**paging, "merge": _cut_paginators(paging["merge"], operations)}
    kept = {k: v for k, v in paging.get("pagination", {}).items() if k in operations}
    return {**paging, "pagination": kept}


def _undocumented(value):
    """Return a model without its documentation, which botocore reads only for help text."""
    if isinstance(value, dict):
        return {k: _undocumented(v) for k, v in value.items() if k != "documentation"}
    if isinstance(value, list):
        return [_undocumented(v) for v in value]
    return value


def _rewrite(path: Path, change, operations: tuple[str, ...]) -> None:
    """Rewrite a JSON model file, if there is one, through `change`, the same bytes each time."""
    if not path.exists():
        return
    zipped = path.suffix == ".gz"
    raw = gzip.decompress(path.read_bytes()) if zipped else path.read_bytes()
    text = json.dumps(change(json.loads(raw), operations), separators=(",", ":")).encode()
    path.write_bytes(gzip.compress(text, compresslevel=9, mtime=0) if zipped else text)


def settings_module(stage: str) -> str:
    """Return the zappa_settings.py that `zappa package` writes for `stage`."""
    return _zappa_cli(stage).get_zappa_settings_string()


def architecture(stage: str) -> str:
    """Return the stage's Lambda architecture: its `architecture` setting, x86_64 if none."""
    found = _zappa_cli(stage).stage_config.get("architecture", "x86_64")
    if found not in LOCKS:
        raise PackageError(f"The stage's architecture is {found!r}: set x86_64 or arm64.")
    return found


def _zappa_cli(stage: str):
    """Return Zappa's CLI with the stage's settings loaded, as `zappa package` loads them."""
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage = stage
    cli.load_credentials = False
    previous = os.getcwd()
    # Zappa walks the working directory for modules importing zappa.websocket, and would name
    # whatever it finds (its own handler, in a build folder) as the websocket handler: give it
    # an empty one.
    with tempfile.TemporaryDirectory() as empty:
        # ...but for the policy files the settings name (attach_policy), which it reads.
        shutil.copytree(
            ROOT / "deploy",
            Path(empty) / "deploy",
            ignore=shutil.ignore_patterns("*.py", "__pycache__"),
        )
        os.chdir(empty)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # its notes are for `zappa package`
                cli.load_settings(str(ROOT / "zappa_settings.json"))
            return cli
        finally:
            os.chdir(previous)


def build(stage: str, out: Path, root: Path = ROOT, cache: Path | None = None) -> Path:
    """Build the package of `stage` from `root`'s tracked files; return the zip's path."""
    if sys.version_info[:2] != (3, 12):
        raise PackageError(
            "Build the package with Python 3.12, Lambda's python3.12 runtime: its .pyc "
            "files must be that version's (make package finds one)."
        )
    machine = architecture(stage)
    site = dependencies(cache or root / "build", machine)
    staging = out.with_suffix(".d")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(site, staging, ignore=shutil.ignore_patterns(".complete", "__pycache__"))
    prune_service_models(staging / "botocore" / "data")
    for name in tracked_files(root):
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    (staging / "zappa_settings.py").write_text(settings_module(stage))
    foreign = foreign_code(staging, machine)
    if foreign:
        shutil.rmtree(staging)
        raise PackageError(
            f"Native code built for another machine than {machine}: "
            + ", ".join(str(path.relative_to(staging)) for path in foreign[:5])
        )
    _compile(staging)
    _zip(staging, out)
    shutil.rmtree(staging)
    return out


def foreign_code(folder: Path, architecture: str) -> list[Path]:
    """Return the ELF files under `folder` built for another machine than `architecture`."""
    wanted = ELF_MACHINES[architecture]
    return [path for path in sorted(folder.rglob("*")) if elf_machine(path) not in (None, wanted)]


def elf_machine(path: Path) -> int | None:
    """Return the ELF header's e_machine of a file (62 x86_64, 183 aarch64), None if it is not
    an ELF file: what `readelf -h` calls its Machine."""
    if not path.is_file() or path.is_symlink():
        return None
    with path.open("rb") as file:
        header = file.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    order = {1: "little", 2: "big"}[header[5]]  # EI_DATA
    return int.from_bytes(header[18:20], order)


def _compile(folder: Path) -> None:
    """Compile every module to a hash-checked .pyc, the same bytes from the same source:
    marshal writes sets in hash order, so the hash seed is fixed."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-f",
            "-j",
            "0",
            "--invalidation-mode",
            "checked-hash",
            "-s",
            str(folder),
            "-p",
            "",
            str(folder),
        ],
        env={**os.environ, "PYTHONHASHSEED": "0"},
        check=False,
        stdout=subprocess.DEVNULL,
    )


def _zip(folder: Path, out: Path) -> None:
    partial = out.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                entry = zipfile.ZipInfo(path.relative_to(folder).as_posix(), _EPOCH)
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, path.read_bytes())
    partial.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python deploy/package.py", description=__doc__)
    parser.add_argument("stage")
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    try:
        built = build(args.stage, args.out.resolve())
    except PackageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    size = built.stat().st_size / 1024 / 1024
    print(
        f"built {built.relative_to(ROOT) if built.is_relative_to(ROOT) else built} ({size:.1f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
