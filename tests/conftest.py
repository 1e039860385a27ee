"""Fixtures: fake AWS credentials, moto per test, the app and its client, and the embedded AWS."""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from moto import mock_aws
from werkzeug.serving import make_server

from app import create_app, infra
from app.services import current_settings, services_for
from embedded_aws.moto_gaps import install, install_rest_api_deletion
from embedded_aws.process import NotReady, running
from local import LOCAL_COMMAND

from deployed import deployed, deployed_direct, function_log  # noqa: F401  (Zappa's handler)
from support import BROWSER_ACCEPT

ROOT = Path(__file__).resolve().parent.parent
# moto's models answer as AWS does where the embedded AWS fills them in (in-process moto too).
install()
install_rest_api_deletion()
SECRET = "test-secret-key-that-is-long-enough-0123456789"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Settings the environment must not leak into a test.
_CLEARED = (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "LOCAL_AWS",
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "STAGE",
    "FLASK_DEBUG",
    "AWS_LAMBDA_FUNCTION_NAME",
    "SITE_ORIGIN",
    "SECRET_KEY_PARAMETER",
)


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch):
    """Never reach a real account: fake credentials, no endpoint or profile from outside."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def settings_for_tests(**overrides) -> dict:
    return {"TESTING": True, "SECRET_KEY": SECRET, "STAGE": "test", **overrides}


class BrowserClient(FlaskClient):
    """A test client that asks for pages as a browser does (a script asks for JSON)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_ACCEPT"] = BROWSER_ACCEPT


@pytest.fixture
def aws():
    """A fresh moto account for one test."""
    with mock_aws():
        yield


@pytest.fixture
def app(aws):
    """The app on a fresh moto account, with its buckets and table.

    Its boto3 clients are the ones this process keeps for these settings: moto intercepts
    every client, and a client is not data, so each test still starts from an empty account.
    """
    app = create_app(settings_for_tests())
    app.test_client_class = BrowserClient
    with app.app_context():
        made = services_for(current_settings())
    clients = infra.Clients(made.settings, s3=made.storage.client, dynamodb=made.jobs.client)
    infra.up(made.settings, clients, log=lambda message: None)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(name="services")
def services_fixture(app):
    """The app's settings and AWS services, as its views get them."""
    with app.app_context():
        return services_for(current_settings())


@pytest.fixture(scope="session")
def site_aws():
    """Thumbs's stage on the embedded AWS, in a process of its own (`python -m local`: its
    worker apart from the web, as in Lambda). The `embedded_aws` fixture is the plugin's."""
    with launch_embedded_aws(STAGE="e2e", LOCAL_HOLDS="1") as aws:
        yield aws


@contextmanager
def launch_embedded_aws(**variables: str):
    """Run `python -m local` with these variables; yield its endpoint, port and log."""
    # Port 0: the system picks a free one as the server binds, so no other process can race.
    env = {name: value for name, value in os.environ.items() if name not in _CLEARED}
    env.update(FAKE_CREDENTIALS, LOCAL_AWS_PORT="0", PYTHONUNBUFFERED="1", **variables)
    log: list[str] = []
    try:
        with running(env, log.append, command=LOCAL_COMMAND, cwd=ROOT) as endpoint:
            yield {"port": int(endpoint.rsplit(":", 1)[1]), "endpoint": endpoint, "log": log}
    except NotReady as failure:
        pytest.fail(f"{failure}:\n" + "".join(log))


@pytest.fixture(scope="session")
def live_site(site_aws):
    """The site over real HTTP, on the embedded AWS."""
    saved = dict(os.environ)
    try:
        os.environ.update(FAKE_CREDENTIALS)
        app = create_app(
            settings_for_tests(STAGE="e2e", LOCAL_AWS=True, AWS_ENDPOINT_URL=site_aws["endpoint"])
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request is noise here
    site = LiveSite(app, site_aws["endpoint"])

    def counting(environ, start_response):
        site.hits.append(environ["PATH_INFO"])  # each would be a Lambda invocation
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, counting, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site.url = f"http://127.0.0.1:{server.server_port}"
    yield site
    server.shutdown()


class LiveSite:
    """The site under test: its base URL, the paths of the requests that reached it, its app,
    and the embedded AWS's holds (an upload or a conversion kept waiting mid-way)."""

    def __init__(self, app=None, aws_endpoint: str = ""):
        self.url = ""
        self.hits: list[str] = []
        self.app = app
        self.aws_endpoint = aws_endpoint

    def services(self):
        """The app's settings and AWS services, as its views get them."""
        with self.app.app_context():
            return services_for(current_settings())

    def hold(self, kind: str) -> None:
        """Keep every later upload, or conversion, waiting until `release`."""
        self._holds({"hold": kind})

    def release(self, kind: str = "all") -> None:
        self._holds({"release": kind})

    def waiting(self, kind: str) -> int:
        """How many requests of `kind` are held now."""
        return self._holds(None)["waiting"][kind]

    def aws_counts(self, reset: bool = False) -> dict[str, dict[str, int]]:
        """The requests the embedded AWS served since the last reset, by service and
        operation (`{"s3": {"GetObject": 2}}`); with `reset`, start counting again."""
        import json
        import urllib.request

        url = f"{self.aws_endpoint}/__embedded_aws__/counts" + ("?reset=1" if reset else "")
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.load(answer)

    def _holds(self, order: dict | None) -> dict:
        import json
        import urllib.request

        data = json.dumps(order).encode() if order is not None else None
        with urllib.request.urlopen(self.aws_endpoint + "/__thumbs__/holds", data, 5) as answer:
            return json.load(answer)


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Generous: a page reloads itself every few seconds without script, and CI machines are slow.
BROWSER_WAIT_MS = 60_000
# Chromium's own background traffic is refused by a closed network; keep it quiet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def files(tmp_path):
    """Write files for the file picker; return a function that gives each one's path."""

    def write(name, data):
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return write


@pytest.fixture
def page(browser, live_site):
    """A page in a fresh browser context (its own cookies: a new visitor), 1000 × 900."""
    context = browser.new_context(
        viewport={"width": 1000, "height": 900}, accept_downloads=True, base_url=live_site.url
    )
    page = context.new_page()
    page.set_default_timeout(BROWSER_WAIT_MS)
    yield page
    context.close()
    live_site.release()  # a test that failed while holding must not hold the next one


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, driven by Playwright; skipped on a machine without it, never in CI."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"CI must run the browser tests, but {CHROMIUM} is missing "
                "(.ci/run installs Debian's chromium package)"
            )
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt install chromium, or set CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
