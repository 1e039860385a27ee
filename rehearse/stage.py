"""One stage's rehearsal: the deploy guide's commands in their order, each followed by checks."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from . import checks
from .checks import Deployed
from .inventory import differences, inventory, removed_by_the_readme
from .report import Report

ROOT = Path(__file__).resolve().parent.parent
VENV312 = ROOT / ".venv312"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TERM")
# Zappa's undeploy --remove-logs removes the API's execution log group whether or not
# execution logging was ever on (`cloudwatch_log_level` is OFF by default), and logs AWS's
# ResourceNotFound as an error: AWS answers so too, so this one is expected.
_EXPECTED_ERRORS = (re.compile(r"^ERROR:Couldn't remove 'API-Gateway-Execution-Logs_"),)
_URL = re.compile(r"https://[A-Za-z0-9.-]+")


class StepFailed(RuntimeError):
    """A command of the deploy guide failed: the rehearsal of this stage cannot go on."""


def clean_environment(endpoint: str, **variables: str) -> dict[str, str]:
    """Return an environment with nothing of the caller's AWS setup: only the embedded AWS."""
    env = {name: os.environ[name] for name in _KEPT if name in os.environ}
    # No profile, token or config file from this machine can send a call elsewhere.
    env.update(FAKE_CREDENTIALS, AWS_ENDPOINT_URL=endpoint, PYTHONUNBUFFERED="1")
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env.update(variables)
    return env


def stage_settings(stage: str) -> dict:
    """Return the stage's settings from zappa_settings.json, `extends` resolved, as Zappa does."""
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage, cli.load_credentials = stage, False
    with contextlib.redirect_stdout(io.StringIO()):  # its warnings are for `zappa package`
        cli.load_settings(str(ROOT / "zappa_settings.json"))
    return json.loads(json.dumps(cli.stage_config))


# The deploy guide's commands, in the guide's order, and what the rehearsal does for each
# (tests/test_rehearse.py finds every line in docs/deploy.md, in this order).
GUIDE = (
    ("aws ssm put-parameter --name {parameter}", "put_secret"),
    ("flask infra up --stage {stage}", "infra_up"),
    ("zappa deploy {stage} -z {package}", "deploy"),
    ("flask infra up --stage {stage}", "infra_up_after_the_deploy"),
    ("zappa update {stage} -z {package}", "update_with_the_site_origin"),
    ("flask infra up --stage {stage}", "infra_up"),
    ("flask infra check --stage {stage}", "infra_check_after_the_update"),
    ("zappa update {stage} -z {package}", "update_with_a_concurrency_cap"),
    ("flask infra up --stage {stage}", "infra_up_after_another_update"),
    ("zappa status {stage}", "status"),
    ("zappa undeploy {stage} --remove-logs", "undeploy"),
    ("flask infra down --stage {stage}", "infra_down"),
    ("aws ssm delete-parameter --name {parameter}", "delete_secret"),
    ("aws s3 rb s3://{zappa_bucket} --force", "remove_zappa_bucket"),
)


# The reserved concurrency the rehearsal opts in to, as the guide's step 6 shows.
CONCURRENCY_CAP = 100


class StageRehearsal:
    """Deploy, update and undeploy one stage as the guide says, and check each result."""

    def __init__(self, stage: str, endpoint: str, client, workdir: Path, report: Report):
        self.stage, self.endpoint, self.client = stage, endpoint, client
        self.workdir, self.report = workdir, report
        config = stage_settings(stage)
        config.pop("extends", None)
        # The rehearsal's only changes: no touch of a host that cannot resolve here, and the
        # policy file found from Zappa's working folder (kept out of the checkout: Zappa
        # writes its CloudFormation template there).
        config.update(touch=False, attach_policy=str(ROOT / config["attach_policy"]))
        self.settings_file = workdir / f"{stage}-settings.json"
        self.package = ROOT / "build" / f"thumbs-{stage}.zip"
        self.deployed = Deployed(stage, config, self.package, client)
        self.parameter = config["aws_environment_variables"]["SECRET_KEY_PARAMETER"]
        self.site_origin: str | None = None
        self.line = ""  # the guide's command being rehearsed
        # The guide's shell, as step 1 exports it.
        self.shell = {
            "FLASK_APP": "app.cli:operator_app",
            "FLASK_SKIP_DOTENV": "1",
            "LOCAL_AWS": "0",
            "STAGE": stage,
            "SECRET_KEY_PARAMETER": self.parameter,
        }
        self._write_settings()

    def run(self) -> None:
        """Run the stage's rehearsal; raise StepFailed when a command fails."""
        self.baseline = inventory(self.client)
        names = {
            "stage": self.stage,
            "parameter": self.parameter,
            "package": self.package.relative_to(ROOT),
            "zappa_bucket": self.deployed.config["s3_bucket"],
        }
        for line, action in GUIDE:
            self.line = line.format(**names)
            began, steps = time.monotonic(), len(self.report.steps)
            getattr(self, action)()
            if len(self.report.steps) == steps:  # done through boto3, not a command
                self.report.step(self.line, time.monotonic() - began)

    def verify(self, when: str, named_checks) -> None:
        for check in named_checks:
            self.report.check(f"{when}: {check.__name__.replace('_', ' ')}", check(self.deployed))

    # What the rehearsal does for each line of the guide.

    def put_secret(self) -> None:
        value = secrets.token_urlsafe(48)
        self.client("ssm").put_parameter(Name=self.parameter, Type="SecureString", Value=value)

    def infra_up(self) -> None:
        self.flask("infra", "up")

    def deploy(self) -> None:
        self.site_origin = _origin(self.zappa("deploy", "-z", str(self.package)))

    def infra_up_after_the_deploy(self) -> None:
        self.flask("infra", "up")
        self.verify("deployed", checks.DEPLOYED)

    def update_with_the_site_origin(self) -> None:
        """Step 5: the stage's origin, a changed setting, brought to the function by update."""
        self.deployed.config["aws_environment_variables"]["SITE_ORIGIN"] = self.site_origin
        self.deployed.notes["changed_setting"] = ("SITE_ORIGIN", self.site_origin)
        self._write_settings()
        self.update()
        self.shell["SITE_ORIGIN"] = self.site_origin  # and exported, for flask infra

    def infra_check_after_the_update(self) -> None:
        self.flask("infra", "check")
        self.verify("updated", (checks.changed_setting_reached_the_function, *checks.DEPLOYED))

    def update(self) -> None:
        self.zappa("update", "-z", str(self.package))

    def update_with_a_concurrency_cap(self) -> None:
        """Step 6: the opt-in ceiling on concurrent executions, brought to the function."""
        self.deployed.config["lambda_concurrency"] = CONCURRENCY_CAP
        self._write_settings()
        self.update()

    def infra_up_after_another_update(self) -> None:
        self.flask("infra", "up")
        self.verify("updated again", checks.DEPLOYED)

    def status(self) -> None:
        said = self.zappa("status")
        named = [] if self.site_origin in said else [f"it does not name {self.site_origin}"]
        self.report.check("zappa status names the site", named)

    def undeploy(self) -> None:
        # The function never runs here; in AWS its first run makes its log group (flask infra
        # up makes it first, with its retention), which --remove-logs must then remove.
        name = f"/aws/lambda/{self.deployed.function_name}"
        logs = self.client("logs")
        if not logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]:
            logs.create_log_group(logGroupName=name)
        self.zappa("undeploy", "--remove-logs", "--yes")
        left = inventory(self.client) - self.baseline
        wanted = removed_by_the_readme(self.stage, self.deployed.config)
        self.report.check(
            "undeploy leaves what the removal steps delete", differences(left, wanted)
        )

    def infra_down(self) -> None:
        self.flask("infra", "down", "--yes")

    def delete_secret(self) -> None:
        self.client("ssm").delete_parameter(Name=self.parameter)

    def remove_zappa_bucket(self) -> None:
        s3, bucket = self.client("s3"), self.deployed.config["s3_bucket"]
        if f"bucket {bucket}" not in inventory(self.client):
            return  # a stage without API Gateway: Zappa made none (inventory.py)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)
        left = differences(inventory(self.client), self.baseline)
        self.report.check("the removal steps leave nothing", left)

    # How a command of the guide runs.

    def flask(self, *args: str) -> str:
        """Run `flask ARGS --stage STAGE` in the guide's shell."""
        command = [sys.executable, "-m", "flask", *args, "--stage", self.stage]
        return self._run(command, ROOT, clean_environment(self.endpoint, **self.shell))

    def zappa(self, command: str, *args: str) -> str:
        """Run `zappa COMMAND STAGE ARGS` from the Python 3.12 virtualenv, as the guide does."""
        environment = clean_environment(
            self.endpoint,
            VIRTUAL_ENV=str(VENV312),
            PATH=f"{VENV312 / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            # Run from the checkout, as the README does, Zappa imports its callback from
            # deploy/; from the rehearsal's folder it finds it on the path.
            PYTHONPATH=str(ROOT),
        )
        line = [str(VENV312 / "bin" / "zappa"), command, self.stage, *args]
        output = self._run([*line, "-s", str(self.settings_file)], self.workdir, environment)
        self.report.check(f"zappa {command} logs no error", _errors(output))
        # Before flask infra up may narrow anything: Zappa's own step leaves no window.
        self.verify(f"right after zappa {command}", checks.RIGHT_AFTER_ZAPPA)
        return output

    def _run(self, command: list[str], cwd: Path, environment: dict) -> str:
        began = time.monotonic()
        done = subprocess.run(
            command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
        )
        output = done.stdout + done.stderr
        log = self.workdir / f"{self.stage}-{len(self.report.steps):02d}.log"
        log.write_text(f"$ {' '.join(command)}\n{output}")
        self.report.step(self.line, time.monotonic() - began, log)
        if done.returncode != 0:
            raise StepFailed(f"{self.line} exited with {done.returncode}:\n{output[-3000:]}")
        return output

    def _write_settings(self) -> None:
        self.settings_file.write_text(json.dumps({self.stage: self.deployed.config}, indent=2))


def _errors(output: str) -> list[str]:
    """Return the errors Zappa logged, but the one AWS gives it too."""
    return [
        f"zappa logged: {line}"
        for line in output.splitlines()
        if line.startswith("ERROR") and not any(p.match(line) for p in _EXPECTED_ERRORS)
    ]


def _origin(output: str) -> str:
    """Return the site's origin from what zappa deploy prints: its last https URL."""
    urls = _URL.findall(output)
    if not urls:
        raise StepFailed(f"zappa deploy printed no URL:\n{output[-2000:]}")
    parts = urlsplit(urls[-1])
    return f"{parts.scheme}://{parts.netloc}"
