"""docs/pattern.md runs as written: its blocks, in order, against the embedded AWS."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from zappa.cli import ZappaCLI

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "pattern.md"
FILES = ("myapp.py", "try_it.py")

pytestmark = pytest.mark.e2e


def blocks() -> list[tuple[str, str]]:
    """Return the page's code blocks, in order: (language, code)."""
    return re.findall(r"^```(\w*)\n(.*?)^```", PAGE.read_text(), re.S | re.M)


def written(folder: Path) -> dict:
    """Write each Python block into the file its first line names; return the Zappa settings."""
    code = {name: "" for name in FILES}
    settings = None
    for language, block in blocks():
        if language == "python":
            name = block.split("\n", 1)[0].removeprefix("# ").strip()
            assert name in code, f"a Python block must start with # myapp.py or # try_it.py: {name}"
            code[name] += block + "\n\n"
        elif language == "json":
            settings = json.loads(block)
        else:
            pytest.fail(f"docs/pattern.md holds a {language or 'plain'} block no test runs")
    for name, text in code.items():
        (folder / name).write_text(text)
    return settings


def test_every_block_of_the_pattern_page_runs_in_order(embedded_aws, tmp_path):
    """On the `embedded_aws` fixture of the embedded-aws distribution: an app that is not
    Thumbs, tested as another project would test it."""
    settings = written(tmp_path)
    names = {
        "UPLOADS_BUCKET": f"pattern-{uuid.uuid4().hex[:12]}-uploads",
        "RESULTS_BUCKET": f"pattern-{uuid.uuid4().hex[:12]}-results",
        "JOBS_TABLE": f"pattern-{uuid.uuid4().hex[:12]}-jobs",
    }
    # The fixture points AWS_ENDPOINT_URL and fake credentials at the embedded AWS.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FLASK_")},
        **names,
        "SECRET_KEY": "a-secret-for-the-pattern-page-0123456789",
    }
    ran = subprocess.run(
        [sys.executable, "try_it.py"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "done: (256, 171)" in ran.stdout
    assert "reconciled:" in ran.stdout

    table = embedded_aws.client("dynamodb").scan(TableName=names["JOBS_TABLE"])["Items"]
    assert sorted(item["status"]["S"] for item in table) == ["done", "done"]
    s3 = embedded_aws.client("s3")
    assert s3.list_objects_v2(Bucket=names["UPLOADS_BUCKET"])["KeyCount"] == 0
    assert s3.list_objects_v2(Bucket=names["RESULTS_BUCKET"])["KeyCount"] == 2

    _zappa_settings_name_the_functions(settings, tmp_path, env, names)


def _zappa_settings_name_the_functions(settings: dict, folder: Path, env: dict, names: dict):
    """Zappa reads the page's settings, and each function they name is one of myapp's."""
    (folder / "zappa_settings.json").write_text(json.dumps(settings))
    cli = ZappaCLI()
    cli.api_stage, cli.load_credentials = "production", False
    cli.load_settings(str(folder / "zappa_settings.json"))
    assert cli.app_function == "myapp.app"
    events = cli.stage_config["events"]
    names_used = [cli.app_function] + [event["function"] for event in events]
    trigger = next(event for event in events if "event_source" in event)["event_source"]
    assert trigger["arn"] == "arn:aws:s3:::myapp-uploads" and trigger["prefix"] == "uploads/"

    saved_path, saved_env = list(sys.path), dict(os.environ)
    try:
        sys.path.insert(0, str(folder))
        os.environ.update(env)
        myapp = importlib.import_module("myapp")
        for dotted in names_used:
            assert callable(getattr(myapp, dotted.split(".", 1)[1])), dotted
        assert myapp.UPLOADS == names["UPLOADS_BUCKET"]
    finally:
        sys.modules.pop("myapp", None)
        sys.path[:] = saved_path
        os.environ.clear()
        os.environ.update(saved_env)
