"""The web path's cold start imports neither Pillow nor moto; the cold-start benchmark's parts."""

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bench import coldstart, lambda_path

from lambda_stage import API_HOST, ROOT, rest_event, write_settings_module

# Never on the web path: the imaging engine (Pillow), the embedded AWS (moto) and test tools.
HEAVY = {"PIL", "moto", "pytest", "app.imaging", "app.worker", "app.local", "responses"}

SERVE_THROUGH_WSGI = """
import json, sys
import wsgi
response = wsgi.app.test_client().get(sys.argv[1], base_url="https://site.example")
print(json.dumps({"status": response.status_code, "modules": sorted(sys.modules)}))
"""

SERVE_THROUGH_ZAPPA = """
import json, sys
sys.path.insert(0, sys.argv[1])  # where zappa_settings.py is
from zappa.handler import lambda_handler
result = lambda_handler(json.loads(sys.argv[2]), None)
print(json.dumps({"status": result["statusCode"], "modules": sorted(sys.modules)}))
"""


def production_environment() -> dict[str, str]:
    """A production configuration with fake credentials: no embedded AWS, no AWS call."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return {
        **keep,
        "STAGE": "dev",
        "SECRET_KEY": "bench-" + "k" * 40,
        "SITE_ORIGIN": f"https://site.example,https://{API_HOST}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "thumbs-dev",
    }


def serve(code: str, *args: str) -> dict:
    """Run `code` in a fresh production-like process; return what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=production_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def heavy_modules(modules: list[str]) -> set[str]:
    return {m for m in modules if m in HEAVY or m.split(".")[0] in HEAVY}


@pytest.mark.parametrize("path", ["/", "/healthz"])
def test_importing_wsgi_and_serving_loads_neither_pillow_nor_moto(path):
    served = serve(SERVE_THROUGH_WSGI, path)
    assert served["status"] == 200
    assert heavy_modules(served["modules"]) == set()
    assert "flask" in served["modules"]  # it did import the app


@pytest.mark.parametrize("path", ["/", "/healthz"])
def test_zappas_handler_serving_a_page_loads_neither_pillow_nor_moto(tmp_path, path):
    write_settings_module("dev", tmp_path)
    event = rest_event("GET", path, "", {}, None, "dev", API_HOST)
    served = serve(SERVE_THROUGH_ZAPPA, str(tmp_path), json.dumps(event))
    assert served["status"] == 200
    assert heavy_modules(served["modules"]) == set()
    assert "wsgi" in served["modules"]


def test_the_worker_loads_no_heic_decoder_until_a_heic_arrives():
    # libheif and libde265 are for HEIC alone (tests/test_heic.py converts each format).
    served = serve(
        "import json, sys, app.worker; print(json.dumps({'modules': sorted(sys.modules)}))"
    )
    assert "PIL" in served["modules"]
    assert not [m for m in served["modules"] if "heif" in m.lower()]


def test_the_first_page_does_not_import_the_cli_s_infrastructure():
    served = serve(SERVE_THROUGH_WSGI, "/")
    assert not {"app.infra", "app.iam", "app.worker", "app.reconciler"} & set(served["modules"])


@pytest.fixture
def package(tmp_path) -> Path:
    """A package laid out as `zappa package` lays it out, from this checkout (no zip)."""
    task = tmp_path / "thumbs"
    task.mkdir()
    for name in ("app", "wsgi.py", "templates", "static"):
        (task / name).symlink_to(ROOT / name)
    zappa = Path(importlib.util.find_spec("zappa.handler").origin).parent
    (task / "zappa").symlink_to(zappa, target_is_directory=True)
    with contextlib.redirect_stdout(io.StringIO()):
        write_settings_module("dev", task)
    return task


def test_the_benchmark_serves_the_first_page_as_lambda_would_from_both_packages(package):
    thumbs, bare = lambda_path.lay_out(package, package.parent, sys.executable)
    event = coldstart.first_page_event()
    with lambda_path.StubSSM() as ssm:
        env = coldstart.lambda_environment(ssm.url)
        ours = lambda_path.first_response(sys.executable, thumbs, event, env)
        theirs = lambda_path.first_response(sys.executable, bare, event, env)
        restored = lambda_path.first_response(sys.executable, thumbs, event, env, snapstart=True)
        assert ssm.calls == 2  # the secret, from the stub, once per start
    assert ours["status"] == theirs["status"] == restored["status"] == 200
    assert '<form id="upload"' in ours["body"] and '<form id="upload"' in restored["body"]
    assert "hello" in theirs["body"]
    assert restored["hooks"] == [1, 1]
    for reply in (ours, theirs):
        phases = [reply[key] for key in coldstart.PHASES]
        assert all(seconds > 0 for seconds in phases)
        assert sum(phases) == pytest.approx(reply["total"], rel=0.05)


def test_the_benchmark_counts_import_time_by_package(package):
    thumbs, _ = lambda_path.lay_out(package, package.parent, sys.executable)
    with lambda_path.StubSSM() as ssm:
        env = coldstart.lambda_environment(ssm.url)
        times = lambda_path.import_times(sys.executable, thumbs, coldstart.first_page_event(), env)
    assert {"app", "flask", "botocore", "zappa"} <= set(times)
    assert all(seconds >= 0 for seconds in times.values())


def test_the_benchmark_sizes_a_package(tmp_path):
    archive = tmp_path / "p.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as made:
        made.writestr("a.txt", "a" * 10_000)
    zipped, unpacked = coldstart.package_size(archive)
    assert unpacked == 10_000 and 0 < zipped < unpacked
