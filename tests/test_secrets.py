"""SECRET_KEY: from Lambda's environment or an SSM SecureString read once per cold start,
rotated with SECRET_KEY_FALLBACKS, and refused when production would be unsafe."""

import re

import pytest

from app import create_app, infra
from app.config import LOCAL_SECRET_KEY, ConfigError, Settings
from app.services import client, current_settings
from embedded_aws.context import LambdaContext

from iam_check import Recorder
from support import jpeg_bytes, s3_event

OLD, NEW, OTHER = ("old-key-" + "o" * 40, "new-key-" + "n" * 40, "other-key-" + "x" * 40)
PARAMETER = "/thumbs/test/secret-key"


@pytest.fixture
def production(aws, monkeypatch):
    """A production environment (no TESTING, no LOCAL_AWS) for the test stage, on moto."""
    monkeypatch.setenv("STAGE", "test")
    monkeypatch.setenv("SITE_ORIGIN", "https://thumbs.example.org")
    monkeypatch.delenv("SECRET_KEY_PARAMETER", raising=False)

    def put_secret(value: str) -> None:
        client("ssm", Settings(aws_max_attempts=1)).put_parameter(
            Name=PARAMETER, Value=value, Type="SecureString", Overwrite=True
        )
        monkeypatch.setenv("SECRET_KEY_PARAMETER", PARAMETER)

    return put_secret


def test_the_key_comes_from_lambdas_environment(production, monkeypatch):
    production(OLD)  # a parameter is named too: the variable wins, and SSM is never asked
    monkeypatch.setenv("SECRET_KEY", NEW)
    recorder = Recorder()
    recorder.install(monkeypatch)
    app = create_app()
    assert app.config["SECRET_KEY"] == NEW and app.config["SESSION_COOKIE_SECURE"] is True
    assert recorder.accesses == []  # no Parameter Store call when the key is given


def test_the_key_comes_from_a_parameter_store_securestring(production):
    production(NEW)
    app = create_app()
    assert app.config["SECRET_KEY"] == NEW and app.config["SECRET_KEY_FALLBACKS"] == []


def test_the_parameter_may_carry_the_old_keys_after_the_new_one(production):
    production(f"{NEW},{OLD}")
    app = create_app()
    assert app.config["SECRET_KEY"] == NEW and app.config["SECRET_KEY_FALLBACKS"] == [OLD]


def test_fallbacks_from_the_environment_are_a_list(production, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", NEW)
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", f" {OLD} , {OTHER},")
    app = create_app()
    assert app.config["SECRET_KEY_FALLBACKS"] == [OLD, OTHER]
    assert app.config["WTF_CSRF_SECRET_KEY"] == [OLD, OTHER, NEW]  # newest last signs


def test_the_secret_is_read_once_per_cold_start_not_per_request(deployed, monkeypatch):
    recorder = Recorder()
    recorder.install(monkeypatch)
    browser = deployed.browser()
    for _ in range(3):
        assert browser.get("/dev/").status == 200
    assert browser.get("/dev/healthz").status == 200
    key, photo = "uploads/x/owner/y.jpg", jpeg_bytes()
    deployed.s3().put_object(Bucket=deployed.settings.uploads_bucket, Key=key, Body=photo)
    deployed.handler(
        s3_event(deployed.settings.uploads_bucket, key, len(photo)), LambdaContext("thumbs-dev")
    )
    reads = [a for a in recorder.accesses if a.action == "ssm:GetParameter"]
    assert len(reads) == 1, reads


@pytest.fixture
def visit(aws, monkeypatch):
    """Open the upload page in one browser with a key; return a site factory and what it got."""
    monkeypatch.setenv("STAGE", "test")

    def site(key: str, fallbacks: str = ""):
        monkeypatch.setenv("SECRET_KEY", key)
        monkeypatch.setenv("SECRET_KEY_FALLBACKS", fallbacks)
        app = create_app({"TESTING": True})
        with app.app_context():
            settings = current_settings()
        infra.up(settings, log=lambda message: None)
        return app

    before = site(OLD).test_client()
    page = before.get("/").get_data(as_text=True)
    ticket = re.search(r"/jobs/([^/\"]+)/uploaded", page).group(1)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    return site, before.get_cookie("thumbs"), ticket, token


def carry(cookie, app):
    """A browser of `app` holding the cookie signed before the rotation."""
    browser = app.test_client()
    browser.set_cookie(cookie.key, cookie.value)
    return browser


def test_after_a_rotation_the_old_cookie_ticket_and_form_still_work(visit):
    site, cookie, ticket, token = visit
    rotated = carry(cookie, site(NEW, fallbacks=OLD))
    status = rotated.get(f"/jobs/{ticket}/status")
    assert status.status_code == 200, status.get_json()  # cookie and ticket both verified
    more = rotated.post("/jobs", json={"count": 1}, headers={"X-CSRFToken": token})
    assert more.status_code == 201  # a page opened before the rotation still submits


@pytest.mark.parametrize("fallbacks", ["", OTHER])
def test_a_cookie_and_ticket_signed_with_neither_key_are_refused(visit, fallbacks):
    site, cookie, ticket, token = visit
    stranger = carry(cookie, site(NEW, fallbacks=fallbacks))
    assert stranger.get(f"/jobs/{ticket}/status").status_code == 404  # the ticket is not ours
    assert (
        stranger.post("/jobs", json={"count": 1}, headers={"X-CSRFToken": token}).status_code == 400
    )


@pytest.mark.parametrize(
    "environment, complaint",
    [
        ({}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": LOCAL_SECRET_KEY}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "short"}, "too short"),
        ({"SECRET_KEY": NEW, "FLASK_DEBUG": "1"}, "debug mode is on"),
        ({"SECRET_KEY": NEW, "SECRET_KEY_FALLBACKS": LOCAL_SECRET_KEY}, "SECRET_KEY_FALLBACKS"),
        ({"SECRET_KEY": NEW, "SECRET_KEY_FALLBACKS": "weak"}, "SECRET_KEY_FALLBACKS"),
        ({"SECRET_KEY": NEW, "TESTING": "1", "AWS_LAMBDA_FUNCTION_NAME": "thumbs-dev"}, "TESTING"),
    ],
)
def test_production_refuses_to_start_unsafe(production, monkeypatch, environment, complaint):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=complaint):
        create_app()


def test_production_refuses_an_empty_parameter(production):
    production(" , ")
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app()


def test_production_says_what_to_do_when_the_parameter_cannot_be_read(production, monkeypatch):
    monkeypatch.setenv("SECRET_KEY_PARAMETER", "/thumbs/test/missing")
    with pytest.raises(ConfigError, match="/thumbs/test/missing cannot be read.*ParameterNotFound"):
        create_app()
