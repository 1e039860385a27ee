"""The web path's cold start imports neither Pillow nor moto, through wsgi and through Zappa."""

import json
import subprocess
import sys
import zipfile

from bench import coldstart

from lambda_stage import API_HOST, ROOT, rest_event, write_settings_module

# Never on the web path: the imaging engine (Pillow), the embedded AWS (moto) and test tools.
HEAVY = {"PIL", "moto", "pytest", "app.imaging", "app.worker", "app.local", "responses"}

SERVE_THROUGH_WSGI = """
import json, sys
import wsgi
response = wsgi.app.test_client().get("/healthz", base_url="https://site.example")
print(json.dumps({"status": response.status_code, "modules": sorted(sys.modules)}))
"""

SERVE_THROUGH_ZAPPA = """
import json, sys
sys.path.insert(0, sys.argv[1])  # where zappa_settings.py is
from zappa.handler import lambda_handler
result = lambda_handler(json.loads(sys.argv[2]), None)
print(json.dumps({"status": result["statusCode"], "modules": sorted(sys.modules)}))
"""


def serve(code: str, *args: str) -> dict:
    """Run `code` in a fresh production-like process; return what it printed."""
    env = {
        **coldstart.production_environment(),
        "STAGE": "dev",
        "SITE_ORIGIN": f"https://site.example,https://{API_HOST}",
    }
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def heavy_modules(modules: list[str]) -> set[str]:
    return {m for m in modules if m in HEAVY or m.split(".")[0] in HEAVY}


def test_importing_wsgi_and_serving_loads_neither_pillow_nor_moto():
    served = serve(SERVE_THROUGH_WSGI)
    assert served["status"] == 200
    assert heavy_modules(served["modules"]) == set()
    assert "flask" in served["modules"]  # it did import the app


def test_zappas_handler_serving_a_page_loads_neither_pillow_nor_moto(tmp_path):
    write_settings_module("dev", tmp_path)
    event = rest_event("GET", "/healthz", "", {}, None, "dev", API_HOST)
    served = serve(SERVE_THROUGH_ZAPPA, str(tmp_path), json.dumps(event))
    assert served["status"] == 200
    assert heavy_modules(served["modules"]) == set()
    assert "wsgi" in served["modules"]


def test_the_benchmark_measures_imports_in_fresh_processes():
    env = coldstart.production_environment()
    seconds = coldstart.import_seconds(sys.executable, "import json; import wsgi", ROOT, env)
    assert 0 < seconds < 600
    baseline, measured = coldstart.compare(sys.executable, "import wsgi", ROOT, env, runs=1)
    assert baseline > 0 and measured > 0


def test_the_benchmark_sizes_a_package(tmp_path):
    archive = tmp_path / "p.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as made:
        made.writestr("a.txt", "a" * 10_000)
    zipped, unpacked = coldstart.package_size(archive)
    assert unpacked == 10_000 and 0 < zipped < unpacked
