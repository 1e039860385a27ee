"""`make run`'s first minutes: the install counter, the ports, the Python, what it says.

The whole front door (a fresh clone, `make run` from the run lock alone, one photo, a restart
at once) runs in CI as `.ci/front_door.py`; these are its parts, each with the case that broke.
"""

from __future__ import annotations

import os
import random
import re
import runpy
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from embedded_aws.server import port_is_free

ROOT = Path(__file__).resolve().parent.parent
PROGRESS = runpy.run_path(str(ROOT / "requirements" / "progress.py"))
RUN_LOCK = ROOT / "requirements" / "run.txt"
BIN = Path(sys.executable).parent


def locked_packages() -> list[tuple[str, str]]:
    return re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", RUN_LOCK.read_text(), re.M)


def pip_says(name: str, version: str, form: str) -> str:
    """One of the lines pip names a package in."""
    return {
        "collecting": f"Collecting {name}=={version} (from -r requirements/run.txt (line 3))",
        "processing": f"Processing /opt/pypi/files/{name.replace('-', '_')}-{version}"
        "-py3-none-any.whl (from -r requirements/run.txt (line 9))",
        "satisfied": f"Requirement already satisfied: {name}=={version} in ./.venv/lib/"
        f"python3.11/site-packages (from -r requirements/run.txt (line 5)) ({version})",
        "ignoring": f"Ignoring {name}: markers 'sys_platform == \"win32\"' don't match your "
        "environment",
    }[form]


@pytest.mark.parametrize("form", ["collecting", "processing", "satisfied", "ignoring"])
def test_the_install_counter_reaches_the_locks_size_whatever_form_pip_uses(form):
    packages = locked_packages()
    noise = ["Looking in indexes: https://pypi.org/simple, file:///opt/pypi/simple"]
    noise += ["WARNING: Location 'file:///opt/pypi-more/simple/x/' is ignored"]
    lines = noise + [pip_says(name, version, form) for name, version in packages]
    shown = list(PROGRESS["progress"](lines, PROGRESS["locked"](RUN_LOCK)))
    total = len(packages)
    assert shown[0].startswith(f"  [1/{total}] ")
    assert shown[-1].startswith(f"  [{total}/{total}] ")
    assert not any("WARNING" in line or "Looking" in line for line in shown)


def test_the_install_counter_counts_a_mix_of_forms_once_a_package():
    packages = locked_packages()
    forms = ["collecting", "processing", "satisfied", "ignoring"]
    lines = [pip_says(n, v, forms[i % 4]) for i, (n, v) in enumerate(packages)]
    lines.insert(1, pip_says(*packages[0], "collecting"))  # named twice, counted once
    lines.append("Successfully installed blinker-1.9.0 boto3-1.44.8")
    shown = list(PROGRESS["progress"](lines, len(packages)))
    assert shown[-2].startswith(f"  [{len(packages)}/{len(packages)}] ")
    assert shown[-1] == "  installed"
    processing = next(line for line in shown if line.startswith("  [2/"))
    assert processing.endswith(f"{packages[1][0]}=={packages[1][1]}")
    assert "(installed before)" in shown[2] and "(not for this platform)" in shown[3]


def test_the_install_counter_passes_pips_errors_whole():
    lines = [
        pip_says("flask", "3.1.3", "collecting"),
        "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE.",
        "    flask==3.1.3 from https://example.invalid/flask.whl:",
        "        Expected sha256 0000",
    ]
    shown = list(PROGRESS["progress"](lines, 34))
    assert shown == ["  [1/34] flask==3.1.3", *lines[1:]]


def test_the_lock_count_is_the_lines_that_pin_a_package():
    assert PROGRESS["locked"](RUN_LOCK) == len(locked_packages()) > 20


def test_a_port_held_only_by_closed_connections_is_free_and_a_listened_one_is_not():
    # Below the ephemeral range: the system hands it to no other program once let go.
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    port = next(
        p for p in random.sample(range(low - 8000, low), 200) if port_is_free("127.0.0.1", p)
    )
    listener = socket.create_server(("127.0.0.1", port))
    assert not port_is_free("127.0.0.1", port), "another program listens there"
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()  # the server closes first, as an HTTP server does: its side lingers
    client.close()
    listener.close()
    assert _in_time_wait(port), "the case needs a connection in TIME_WAIT on the port"
    assert port_is_free("127.0.0.1", port)


def _in_time_wait(port: int) -> bool:
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(
        row.split()[3] == "06" and int(row.split()[1].rsplit(":", 1)[1], 16) == port for row in rows
    )


def _flask_run(port: int, aws_port: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLASK_APP": "local", "LOCAL_AWS_PORT": str(aws_port)}
    return subprocess.run(
        [str(BIN / "flask"), "run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("taken, variable", [("site", "PORT"), ("aws", "LOCAL_AWS_PORT")])
def test_a_port_another_program_listens_on_stops_make_run_with_one_line(taken, variable):
    listener = socket.create_server(("127.0.0.1", 0))
    busy = listener.getsockname()[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        other = probe.getsockname()[1]
    try:
        ran = _flask_run(busy, other) if taken == "site" else _flask_run(other, busy)
    finally:
        listener.close()
    assert ran.returncode != 0
    said = [line for line in (ran.stdout + ran.stderr).splitlines() if line.strip()]
    assert len(said) == 1, said
    assert f"Port {busy}," in said[0] and "in use by another program" in said[0]
    assert f"{variable}={busy + 1} make run" in said[0]
    assert "Traceback" not in ran.stderr


def test_a_python_older_than_311_is_named_in_one_line(tmp_path):
    old = tmp_path / "python3.10"
    old.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "sys.version_info = (3, 10, 13, 'final', 0)\n"
        "exec(sys.argv[2])\n"
    )
    old.chmod(0o755)
    # As a person types it: not a sub-make of `make test`, which would say make[1].
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    ran = subprocess.run(
        ["make", "--no-print-directory", "run", f"PYTHON={old}", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode != 0
    assert ran.stdout == ""
    said = ran.stderr.splitlines()
    assert said[0] == (
        f"Thumbs needs Python 3.11 or newer; {old} is 3.10: make run PYTHON=python3.11"
    )
    assert all(line.startswith("make: ***") for line in said[1:])
    assert not (tmp_path / "venv").exists()


def test_make_run_says_where_everything_listens_and_what_it_keeps():
    from local import welcome

    said = welcome("http://127.0.0.1:5000", "http://127.0.0.1:5100")
    assert "http://127.0.0.1:5000" in said and "http://127.0.0.1:5100" in said
    assert "memory" in said and "loses" in said
    for switch in ("LOCAL_EVENT_LOSS=1", "LOCAL_FAULTS=1", "LOCAL_HOLDS=1"):
        assert switch in said
    assert "http://127.0.0.1:5100/__embedded_aws__/faults" in said
