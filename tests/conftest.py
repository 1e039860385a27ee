"""Fixtures: fake AWS credentials, moto per test, the app and its client, and the embedded AWS."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from moto import mock_aws
from werkzeug.serving import make_server

from app import create_app, infra
from app.aws import build_services
from app.aws import client as aws_client
from deployed import deployed  # noqa: F401  (the real Zappa handler on moto)

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-key-that-is-long-enough-0123456789"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Settings the environment must not leak into a test.
_CLEARED = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
            "LOCAL_AWS", "SECRET_KEY", "SECRET_KEY_FALLBACKS", "STAGE", "FLASK_DEBUG",
            "AWS_LAMBDA_FUNCTION_NAME")


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch):
    """Never reach a real account: fake credentials, no endpoint or profile from outside."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def settings_for_tests(**overrides) -> dict:
    settings = {"TESTING": True, "SECRET_KEY": SECRET, "STAGE": "test"}
    settings.update(overrides)
    return settings


@pytest.fixture
def aws():
    """A fresh moto account for one test."""
    with mock_aws():
        yield


@pytest.fixture
def app(aws):
    app = create_app(settings_for_tests())
    settings = app.config
    infra.up(settings, aws_client("s3", settings), aws_client("dynamodb", settings),
             log=lambda message: None)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def services(app):
    return build_services(app.config)


@pytest.fixture(scope="session")
def embedded_aws():
    """The embedded AWS in its own process (its worker apart from the web, as in Lambda)."""
    # Port 0: the system picks a free one as the server binds, so no other process can race.
    env = {**os.environ, **FAKE_CREDENTIALS, "STAGE": "e2e", "LOCAL_AWS": "1",
           "LOCAL_AWS_PORT": "0", "PYTHONUNBUFFERED": "1"}
    for name in _CLEARED[:4]:
        env.pop(name, None)
    process = subprocess.Popen([sys.executable, "-m", "app.local"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = []
    for line in process.stdout:
        started.append(line)
        if "ready" in line:
            break
    else:
        raise RuntimeError("the embedded AWS did not start:\n" + "".join(started))
    port = int(line.rsplit(":", 1)[1])  # "embedded AWS ready on http://127.0.0.1:PORT"
    # Keep reading its output, so a full pipe never blocks it.
    log = []
    threading.Thread(target=lambda: log.extend(process.stdout), daemon=True).start()
    yield {"port": port, "endpoint": f"http://127.0.0.1:{port}", "log": log}
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def live_site(embedded_aws):
    """The site over real HTTP, on the embedded AWS."""
    saved = dict(os.environ)
    try:
        os.environ.update(FAKE_CREDENTIALS)
        app = create_app(settings_for_tests(STAGE="e2e", LOCAL_AWS=True,
                                       LOCAL_AWS_PORT=embedded_aws["port"]))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise here
    site = LiveSite()

    def counting(environ, start_response):
        site.hits.append(environ["PATH_INFO"])  # each would be a Lambda invocation
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, counting, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site.url = f"http://127.0.0.1:{server.server_port}"
    yield site
    server.shutdown()


class LiveSite:
    """The site under test: its base URL, and the paths of the requests that reached it."""

    def __init__(self):
        self.url = ""
        self.hits: list[str] = []


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Chromium's own background traffic is refused by a closed network; keep it quiet.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, driven by Playwright; skipped on a machine without it, never in CI."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests, but {CHROMIUM} is missing "
                        "(.ci/run installs Debian's chromium package)")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt install chromium, or set CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
