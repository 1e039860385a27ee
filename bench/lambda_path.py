"""Lambda's path to a first response, offline: the two packages, a stub SSM, one fresh process.

Lambda's Python runtime puts the task folder first on the path, imports the module of the
function's handler (`_HANDLER`: Thumbs' entry point, `app.entry.lambda_handler`; for a plain
Zappa package, the `handler.py` Zappa copies to its root), and on the first event calls it,
which builds Zappa's `LambdaHandler` (importing `wsgi`, so building the app) and serves the
event. `DRIVER` does exactly that in a fresh process, timing each phase, and prints them.

The secret comes from a stub SSM on 127.0.0.1 (`StubSSM`), reached through botocore's own
HTTP stack: `AWS_ENDPOINT_URL_SSM` points at it, so the measured process imports and runs
what it would in Lambda, and S3 and DynamoDB keep their production endpoints (which no page
reaches: presigning is local). Nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# What the bare function's package lacks of Thumbs': the app, its pages and its settings.
APP_ENTRIES = {"app", "wsgi.py", "templates", "static", "zappa_settings.py", "__pycache__"}
SECRET = "bench-secret-" + "s" * 40

# The least a Flask site on Lambda does for a first request: a route that builds a client.
BARE_APP = '''"""A bare Flask + boto3 function: one route, which builds a boto3 client."""

import boto3
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    boto3.client("s3")
    return "<!doctype html><title>hello</title><p>hello"
'''

# What Lambda calls in each package: Thumbs' entry point; Zappa's own handler in the bare one.
THUMBS_HANDLER = "app.entry.lambda_handler"
ZAPPAS_HANDLER = "handler.lambda_handler"

DRIVER = """
import time
started, cpu = time.perf_counter(), time.process_time()
import importlib, json, os, sys
sys.path.insert(0, sys.argv[1])  # Lambda's /var/task
snapstart = sys.argv[3:] == ["snapstart"]
if snapstart:
    # What Lambda's runtime provides when SnapStart is on: snapshot_restore_py's registry.
    import types
    hooks = types.ModuleType("snapshot_restore_py")
    hooks.before, hooks.after = [], []
    hooks.register_before_snapshot = lambda f, *a, **k: hooks.before.append((f, a, k))
    hooks.register_after_restore = lambda f, *a, **k: hooks.after.append((f, a, k))
    sys.modules["snapshot_restore_py"] = hooks


class Context:
    function_name = "thumbs-dev"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self):
        return 60000


phases, last = {}, started
def lap(name):
    global last
    now = time.perf_counter()
    phases[name], last = now - last, now


module, _, function = os.environ["_HANDLER"].rpartition(".")
entry = getattr(importlib.import_module(module), function)
lap("import_handler")
import zappa.handler
zappa.handler.LambdaHandler()
lap("build_handler")
if snapstart:
    for f, a, k in reversed(hooks.before):
        f(*a, **k)
    lap("before_snapshot")
    started, cpu = last, time.process_time()  # a restored instance starts here
    for f, a, k in hooks.after:
        f(*a, **k)
    lap("after_restore")
result = entry(json.loads(sys.argv[2]), Context())
lap("first_response")
print("@@", json.dumps({
    **phases,
    "total": last - started,
    "cpu": time.process_time() - cpu,
    "hooks": [len(hooks.before), len(hooks.after)] if snapstart else None,
    "status": result["statusCode"],
    "body": result.get("body") or "",
}))
"""


def lay_out(package: Path, folder: Path, python: Path | str) -> tuple[Path, Path]:
    """Lay out Thumbs' unpacked `package` and the bare function beside it, in `folder`.

    The bare function's package is Thumbs' with its app swapped for `BARE_APP`: the same
    libraries and hash-checked .pyc files (hard links, so the very same files), the same
    settings module, with APP_MODULE naming the bare app, and Zappa's handler at its root, as
    `zappa package` puts it. Returns both task folders; `package` must be a folder in
    `folder`, where the driver is written.
    """
    bare = folder / "bare"
    bare.mkdir()
    for entry in package.iterdir():
        if entry.is_dir() and entry.name not in APP_ENTRIES:
            shutil.copytree(entry, bare / entry.name, copy_function=_link)
        elif entry.name not in APP_ENTRIES:
            _link(entry, bare / entry.name)
    settings = (package / "zappa_settings.py").read_text()
    (bare / "zappa_settings.py").write_text(
        re.sub(r"^APP_MODULE=.*$", "APP_MODULE='hello'", settings, flags=re.M)
    )
    (bare / "hello.py").write_text(BARE_APP)
    shutil.copy2(package / "zappa" / "handler.py", bare / "handler.py")
    _compile(python, [bare / "hello.py", bare / "zappa_settings.py", bare / "handler.py"])
    _compile(python, [package / "zappa_settings.py"])
    (folder / "bootstrap.py").write_text(DRIVER)
    return package, bare


def _link(source, target) -> None:
    """Hard-link `source` to `target` (a copy across file systems)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _compile(python: Path | str, files: list[Path]) -> None:
    """Compile `files` to hash-checked .pyc with `python`, as `make package` does the app."""
    code = (
        "import py_compile, sys\n"
        "for name in sys.argv[1:]:\n"
        "    py_compile.compile(name, doraise=True,"
        " invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)"
    )
    subprocess.run([str(python), "-c", code, *map(str, files)], check=True)


def first_response(
    python: Path | str, task: Path, event: dict, env: dict, snapstart: bool = False
) -> dict:
    """Serve `event` from `task` in a fresh process; return each phase's seconds and the reply.

    With `snapstart`, the process plays a SnapStart instance: init, the before-snapshot hooks,
    then (where the snapshot would be restored) the after-restore hooks and the event; its
    `total` then runs from the restore. Lambda's restore of the VM itself is not in it.
    """
    command = [str(python), str(task.parent / "bootstrap.py"), str(task), json.dumps(event)]
    done = subprocess.run(
        command + (["snapstart"] if snapstart else []),
        cwd=task,
        env=task_environment(task, env),
        capture_output=True,
        text=True,
    )
    lines = [line[3:] for line in done.stdout.splitlines() if line.startswith("@@ ")]
    if done.returncode or not lines:
        raise RuntimeError(f"{task.name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])


def task_environment(task: Path, env: dict) -> dict:
    """Return `env` as Lambda's runtime completes it for `task`: its folder and its handler."""
    handler = ZAPPAS_HANDLER if (task / "handler.py").exists() else THUMBS_HANDLER
    return {**env, "LAMBDA_TASK_ROOT": str(task), "_HANDLER": handler}


def import_times(python: Path | str, task: Path, event: dict, env: dict) -> dict[str, float]:
    """Return the seconds each top-level package takes to import on the way to a first reply.

    From `-X importtime`: each module's own time (its children's excluded), summed by the
    package it belongs to, so the figures add up to the whole import time.
    """
    driver = task.parent / "bootstrap.py"
    done = subprocess.run(
        [str(python), "-X", "importtime", str(driver), str(task), json.dumps(event)],
        cwd=task,
        env=task_environment(task, env),
        capture_output=True,
        text=True,
        check=True,
    )
    times: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)", line)
        if match:
            times[match.group(2).split(".")[0]] += int(match.group(1)) / 1e6
    return dict(times)


class StubSSM:
    """An SSM on 127.0.0.1 that answers GetParameter with `SECRET`, and counts the calls."""

    def __init__(self):
        self.calls = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                if self.headers.get("X-Amz-Target") == "AmazonSSM.GetParameter":
                    stub.calls += 1
                    status, answer = (
                        200,
                        {
                            "Parameter": {
                                "Name": body.get("Name"),
                                "Type": "SecureString",
                                "Value": SECRET,
                                "Version": 1,
                            }
                        },
                    )
                else:
                    status, answer = 400, {"__type": "InvalidAction", "message": "not stubbed"}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> StubSSM:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
