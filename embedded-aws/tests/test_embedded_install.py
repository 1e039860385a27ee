"""The distribution on its own: installed into a fresh virtualenv with nothing else, it
serves `python -m embedded_aws --port 0` and its example passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from embedded_aws import client
from embedded_aws.process import running

DISTRIBUTION = Path(__file__).resolve().parent.parent


def test_installed_alone_it_serves_and_runs_its_example(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    # Nothing of this checkout on the path: a project that is not this one.
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, str(DISTRIBUTION), "pytest"], env=env, check=True, cwd=tmp_path)

    where = subprocess.run(
        [
            python,
            "-c",
            "import embedded_aws, importlib.util as u; print(embedded_aws.__file__);"
            "print(u.find_spec('app'), u.find_spec('local'))",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where[0].startswith(str(venv)) and where[1:] == ["None", "None"]

    lines: list[str] = []
    command = (python, "-m", "embedded_aws", "--port", "0")
    with running(env, lines.append, command=command, cwd=str(tmp_path)) as endpoint:
        s3 = client("s3", endpoint)
        s3.create_bucket(Bucket="from-outside")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["from-outside"]

    example = tmp_path / "example"
    shutil.copytree(DISTRIBUTION / "examples", example)
    ran = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(example)],
        env=env,
        cwd=example,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    examples = sum(text.count("\ndef test_") for text in _texts(example))
    assert examples >= 3 and f"{examples} passed" in ran.stdout, ran.stdout


def _texts(folder: Path) -> list[str]:
    return [path.read_text() for path in folder.glob("test_*.py")]
