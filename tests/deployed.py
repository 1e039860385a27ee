"""The `deployed` fixture: the real Zappa handler with the dev stage's settings, on moto."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import zappa.handler

from app import infra, services
from app.config import Settings
from app.services import client
from embedded_aws.gate import S3Gate

from lambda_stage import (
    FUNCTION_URL_HOST,
    ROOT,
    Browser,
    lambda_environment,
    write_settings_module,
)
from support import jpeg_bytes, multipart, upload_form

SECRET = "dev-secret-key-from-parameter-store-0123456789"
SITE_ORIGIN = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"


@dataclass
class Deployed:
    """One stage as Lambda would run it: the handler, its settings and its environment."""

    stage_config: dict
    settings: dict
    environment: dict

    def handler(self, event, context):
        """Call what Lambda calls: the function the stage's `lambda_handler` setting names."""
        module, _, function = self.stage_config["lambda_handler"].rpartition(".")
        return getattr(importlib.import_module(module), function)(event, context)

    def browser(self, **options) -> Browser:
        return Browser(self.handler, **options)

    def s3(self):
        return client("s3", self.settings)

    def dynamodb(self):
        return client("dynamodb", self.settings)

    def set_environment(self, **variables: str) -> None:
        """Change the function's environment before its cold start (the fixture restores it)."""
        os.environ.update(variables)
        self.environment.update(variables)


class FunctionLog:
    """What the function writes and logs, as its CloudWatch log group would keep it."""

    def __init__(self, capsys, caplog):
        self._capsys, self._caplog = capsys, caplog

    def lines(self) -> list[str]:
        """Return every line written or logged since the last call, and forget them: stdout,
        stderr (Lambda keeps both), and the records of loggers other than the app's (which
        writes its own to stdout) at the stage's level."""
        written = self._capsys.readouterr()
        lines = (written.out + written.err).splitlines()
        lines += [
            f"{record.levelname}:{record.name}:{record.getMessage()}"
            for record in self._caplog.records
            if record.name != "app" and not record.name.startswith("app.")
        ]
        self._caplog.clear()
        return [line for line in lines if line.strip()]


@pytest.fixture
def function_log(capsys, caplog) -> FunctionLog:
    """Every line the function logs from now on, at INFO (the stages' `log_level`)."""
    caplog.set_level(logging.INFO)
    capsys.readouterr()
    return FunctionLog(capsys, caplog)


def reset_lambda() -> None:
    """Forget the cold start: Zappa's singleton, the imported app and cached clients."""
    zappa.handler.LambdaHandler._LambdaHandler__instance = None
    for name in ("wsgi", "zappa_settings"):
        sys.modules.pop(name, None)
    services.forget()


@pytest.fixture
def deployed(aws, monkeypatch, tmp_path):
    """The dev stage's handler, its buckets, table and secret in moto, a Lambda environment."""
    yield from deploy_stage("dev", SITE_ORIGIN, monkeypatch, tmp_path)


@pytest.fixture
def deployed_direct(aws, monkeypatch, tmp_path):
    """The direct stage (a Lambda function URL, no API Gateway), as `deployed` is dev."""
    yield from deploy_stage("direct", f"https://{FUNCTION_URL_HOST}", monkeypatch, tmp_path)


def deploy_stage(stage: str, origin: str, monkeypatch, tmp_path):
    """Yield a stage as Lambda would run it, on moto; give the process back afterwards."""
    monkeypatch.chdir(ROOT)
    stage_config = write_settings_module(stage, tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    saved_environment, root_level = dict(os.environ), logging.getLogger().level
    environment = {**lambda_environment(stage_config, f"thumbs-{stage}"), "SITE_ORIGIN": origin}
    os.environ.update(environment)
    settings = Settings.from_env()
    deploy_function(settings, stage_config["lambda_handler"])
    infra.up(settings, log=lambda m: None)
    client("ssm", settings).put_parameter(
        Name=environment["SECRET_KEY_PARAMETER"], Value=SECRET, Type="SecureString"
    )
    reset_lambda()
    yield Deployed(stage_config, settings, environment)
    reset_lambda()
    # Zappa's handler writes to the environment and the root logger; give them back.
    os.environ.clear()
    os.environ.update(saved_environment)
    logging.getLogger().setLevel(root_level)


def deploy_function(settings: Settings, handler: str) -> None:
    """Create the stage's function in moto, as zappa deploy would (moto runs nothing)."""
    import io
    import zipfile

    role = client("iam", settings).create_role(
        RoleName=f"{settings.function_name}-ZappaLambdaExecutionRole",
        AssumeRolePolicyDocument="{}",
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app/entry.py", "def lambda_handler(event, context): pass\n")
    client("lambda", settings).create_function(
        FunctionName=settings.function_name,
        Runtime="python3.12",
        Role=role,
        Handler=handler,
        Code={"ZipFile": code.getvalue()},
    )


def post_to_s3(
    action: str,
    fields: list[tuple[str, str]],
    filename: str,
    data: bytes,
    content_type: str = "image/jpeg",
) -> requests.Response:
    """Post a file as the browser does, refused as S3 would refuse it, then stored by moto."""
    fields = [(n, content_type if n == "Content-Type" else v) for n, v in fields]
    body, form_type = multipart(fields, (filename, data, content_type))
    bucket = urlsplit(action).hostname.split(".s3.")[0]
    # moto stores any POST; the gate holds it to the policy as S3 would (moto's own keys).
    keys = {os.environ["AWS_ACCESS_KEY_ID"]: os.environ["AWS_SECRET_ACCESS_KEY"]}
    S3Gate(None, keys).check_post(bucket, body, form_type.split("boundary=")[1])
    return requests.post(
        action, data=body, headers={"Content-Type": form_type}, allow_redirects=False, timeout=30
    )


def assert_on_stage(urls, browser):
    """Every URL of this site keeps the stage prefix; other origins (S3) are left alone."""
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("data", "mailto") or url.startswith("#"):
            continue
        if parts.netloc and parts.netloc != browser.host:
            assert parts.hostname.endswith(".amazonaws.com") and ".s3" in parts.hostname, url
            continue
        assert parts.path.startswith(f"/{browser.stage}/"), f"{url} lost the stage prefix"


def upload_photo(browser, filename="holiday in Nice.jpg", data=None):
    """Open the page, post the photo to S3 as the form does, follow S3's redirect."""
    page = browser.get(f"/{browser.stage}/")
    assert page.status == 200, page.text
    action, fields = upload_form(page.text)
    stored = post_to_s3(action, fields, filename, data or jpeg_bytes((2400, 1600)))
    assert stored.status_code == 303, stored.text
    landed = browser.get(stored.headers["Location"])
    query = parse_qs(urlsplit(stored.headers["Location"]).query)
    return page, landed, query["key"][0]
