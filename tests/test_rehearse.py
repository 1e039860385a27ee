"""`make rehearse` fails when what it checks is broken: its checks, run against a stage deployed
by hand on the embedded AWS, hold; each breakage below makes one of them fail, and a failed
check makes the rehearsal exit 1. (`make rehearse` itself runs Zappa; CI runs it.)"""

import contextlib
import io
import json
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest

import rehearse.__main__ as rehearse_main
from app import infra
from app.config import Settings
from app.iam import iam_policy
from rehearse import checks
from rehearse.report import Report
from rehearse.stage import GUIDE, ROOT, stage_settings

pytestmark = pytest.mark.e2e

# Every check but the REST API's, which needs Zappa's CloudFormation stack.
BY_HAND = [c for c in checks.DEPLOYED if c is not checks.site_is_served_by_its_rest_api_or_url]


def test_the_rehearsal_runs_the_deploy_guide_in_its_order():
    page = (ROOT / "docs" / "deploy.md").read_text()
    guide = page[: page.index("## A custom domain")]
    names = {
        "stage": "dev",
        "parameter": "/thumbs/dev/secret-key",
        "package": "build/thumbs-dev.zip",
        "zappa_bucket": "thumbs-dev-zappa-packages",
    }
    at = 0
    for line, _ in GUIDE:
        command = line.format(**names)
        found = guide.find(command, at)
        assert found >= 0, f"docs/deploy.md runs no {command!r} after {guide[at - 80 : at]!r}"
        at = found + len(command)


def _client_maker(endpoint: str):
    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


@pytest.fixture
def deployed(site_aws, tmp_path) -> checks.Deployed:
    """A stage of its own, deployed as Zappa and flask infra up would leave it, by hand."""
    stage = f"r{uuid.uuid4().hex[:8]}"
    client = _client_maker(site_aws["endpoint"])
    settings = Settings(stage=stage, aws_endpoint_url=site_aws["endpoint"])
    infra.up(settings, log=lambda message: None)  # buckets, table, role, queue
    config = stage_settings("dev")
    policy = tmp_path / f"policy-{stage}.json"
    policy.write_text(json.dumps(iam_policy(settings)))
    config.update(
        attach_policy=str(policy),
        aws_environment_variables={
            "STAGE": stage,
            "SECRET_KEY_PARAMETER": f"/thumbs/{stage}/secret-key",
        },
        events=[
            {
                **e,
                "event_source": {
                    **e["event_source"],
                    "arn": f"arn:aws:s3:::thumbs-{stage}-uploads",
                },
            }
            if "event_source" in e
            else e
            for e in config["events"]
        ],
    )
    package = tmp_path / f"thumbs-{stage}.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("zappa_settings.py", f"API_STAGE={stage!r}\n")
        archive.writestr("app/entry.py", "def lambda_handler(event, context): pass\n")
    arn = client("lambda").create_function(
        FunctionName=f"thumbs-{stage}",
        Runtime=config["runtime"],
        Role=client("iam").get_role(RoleName=f"thumbs-{stage}-ZappaLambdaExecutionRole")["Role"][
            "Arn"
        ],
        Handler=checks.HANDLER,
        Code={"ZipFile": package.read_bytes()},
        MemorySize=config["memory_size"],
        Timeout=config["timeout_seconds"],
        Environment={"Variables": config["aws_environment_variables"]},
    )["FunctionArn"]
    client("s3").put_bucket_notification_configuration(
        Bucket=f"thumbs-{stage}-uploads",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "Id": f"thumbs-{stage}",
                    "LambdaFunctionArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
                }
            ]
        },
    )
    rule = f"thumbs-{stage}-app.reconciler.handle_schedule"
    client("events").put_rule(
        Name=rule,
        ScheduleExpression="rate(2 minutes)",
        State="ENABLED",
        Description="app.reconciler.handle_schedule",
    )
    client("events").put_targets(Rule=rule, Targets=[{"Id": "reconciler", "Arn": arn}])
    infra.up(settings, log=lambda message: None)  # after the deploy: destination, permission
    return checks.Deployed(stage, config, package, client)


def verify(deployed) -> Report:
    report = Report(print=lambda *args, **kwargs: None)
    for check in BY_HAND:
        report.check(check.__name__, check(deployed))
    return report


def test_the_checks_hold_for_a_stage_deployed_as_the_readme_says(deployed):
    assert verify(deployed).checks == [(check.__name__, []) for check in BY_HAND]


BREAKAGES = {
    "an inline policy beside Zappa's": (
        lambda d: d.client("iam").put_role_policy(
            RoleName=f"{d.function_name}-ZappaLambdaExecutionRole",
            PolicyName="extra",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        ),
        "role_holds_exactly_the_policy_file",
        "'extra'",
    ),
    "the policy file as committed, its account not filled in (a plain zappa deploy)": (
        lambda d: d.client("iam").put_role_policy(
            RoleName=f"{d.function_name}-ZappaLambdaExecutionRole",
            PolicyName="zappa-permissions",
            PolicyDocument=Path(d.config["attach_policy"]).read_text(),
        ),
        "role_holds_exactly_the_policy_file",
        "policy is not",
    ),
    "an environment variable the settings do not name": (
        lambda d: d.client("lambda").update_function_configuration(
            FunctionName=d.function_name,
            Environment={"Variables": {**d.config["aws_environment_variables"], "DEBUG": "1"}},
        ),
        "function_is_configured_as_the_stage",
        "the function's Environment is",
    ),
    "less memory": (
        lambda d: d.client("lambda").update_function_configuration(
            FunctionName=d.function_name, MemorySize=512
        ),
        "function_is_configured_as_the_stage",
        "the function's MemorySize is 512, not 2304",
    ),
    "a second S3 permission, without the account": (
        lambda d: d.client("lambda").add_permission(
            FunctionName=d.function_name,
            StatementId="s3-zappa",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceArn=f"arn:aws:s3:::{d.uploads_bucket}",
        ),
        "one_s3_permission_for_this_bucket_and_account",
        "S3 may invoke the function through",
        # and, as Zappa's permissions did, it grows the resource policy
        "resource_policy_does_not_grow",
    ),
    "every upload notified, not only uploads/": (
        lambda d: d.client("s3").put_bucket_notification_configuration(
            Bucket=d.uploads_bucket,
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {
                        "Id": d.function_name,
                        "LambdaFunctionArn": d.function()["FunctionArn"],
                        "Events": ["s3:ObjectCreated:*"],
                    }
                ]
            },
        ),
        "uploads_notify_the_function",
        "bucket notifies",
    ),
    "reserved concurrency the settings do not give": (
        lambda d: d.client("lambda").put_function_concurrency(
            FunctionName=d.function_name, ReservedConcurrentExecutions=5
        ),
        "reserved_concurrency_is_as_set",
        "reserves 5 concurrent executions, not None",
    ),
    "logs kept forever": (
        lambda d: d.client("logs").delete_retention_policy(
            logGroupName=f"/aws/lambda/{d.function_name}"
        ),
        "log_groups_expire",
        "keeps its lines None days, not 30",
    ),
    "no on-failure destination": (
        lambda d: d.client("lambda").delete_function_event_invoke_config(
            FunctionName=d.function_name
        ),
        "failed_events_go_to_the_queue",
        "no on-failure destination",
    ),
    "Zappa's own handler, which runs what an event names": (
        lambda d: d.client("lambda").update_function_configuration(
            FunctionName=d.function_name, Handler="handler.lambda_handler"
        ),
        "function_is_configured_as_the_stage",
        "the function's Handler is 'handler.lambda_handler', not 'app.entry.lambda_handler'",
    ),
    "anyone may invoke it, not only through a function URL": (
        lambda d: d.client("lambda").add_permission(
            FunctionName=d.function_name,
            StatementId="FunctionURLAllowPublicAccessInvoke",
            Action="lambda:InvokeFunction",
            Principal="*",
        ),
        "nobody_invokes_the_function_but_through_its_url",
        "statement FunctionURLAllowPublicAccessInvoke lets anyone invoke it",
        "resource_policy_does_not_grow",
    ),
    "the schedule disabled": (
        lambda d: d.client("events").disable_rule(
            Name=f"{d.function_name}-app.reconciler.handle_schedule"
        ),
        "reconciler_is_scheduled",
        "is DISABLED",
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_resource_fails_its_check(deployed, breakage):
    verify(deployed)  # the first look records the resource policy's size
    breaking, check, expected, *also = BREAKAGES[breakage]
    breaking(deployed)
    report = verify(deployed)
    assert sorted(report.failed) == sorted([check, *also])
    (problems,) = [problems for name, problems in report.checks if name == check]
    assert any(expected in problem for problem in problems), problems


def test_a_resource_policy_that_grows_fails_its_check(deployed):
    checks.resource_policy_does_not_grow(deployed)  # after the first deploy
    deployed.client("lambda").add_permission(
        FunctionName=deployed.function_name,
        StatementId="GROWS1",
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn="arn:aws:events:us-east-1:123456789012:rule/another",
    )
    assert checks.resource_policy_does_not_grow(deployed) == [
        "the resource policy grew from 1 to 2 statements"
    ]


def test_a_failed_check_makes_the_rehearsal_exit_1(monkeypatch, tmp_path):
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "thumbs-dev.zip").write_bytes(b"")

    class Broken:
        def __init__(self, stage, endpoint, client, workdir, report):
            self.report = report

        def run(self):
            self.report.check("deployed: role holds exactly the policy file", ["extra policy"])

    monkeypatch.setattr(rehearse_main, "ROOT", tmp_path)
    monkeypatch.setattr(rehearse_main, "StageRehearsal", Broken)
    monkeypatch.setattr(
        rehearse_main, "embedded_aws", lambda folder: contextlib.nullcontext("http://127.0.0.1:9")
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert rehearse_main.main(["dev"]) == 1
    assert "FAILED  deployed: role holds exactly the policy file" in printed.getvalue()
    assert "1 failed" in printed.getvalue()


def test_the_way_in_is_checked_for_the_stage_s_kind(deployed):
    # By hand there is no REST API, which a stage behind API Gateway must have.
    assert checks.site_is_served_by_its_rest_api_or_url(deployed) == [
        f"0 REST APIs are named {deployed.function_name}, not 1"
    ]
    deployed.config.update(function_url_enabled=True, apigateway_enabled=False)
    assert checks.site_is_served_by_its_rest_api_or_url(deployed) == [
        "the function's URLs are [], not one public"
    ]
    deployed.client("lambda").create_function_url_config(
        FunctionName=deployed.function_name, AuthType="NONE"
    )
    assert checks.site_is_served_by_its_rest_api_or_url(deployed) == []


def test_a_package_without_the_entry_point_fails_its_check(deployed, tmp_path):
    package = tmp_path / "old.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("zappa_settings.py", f"API_STAGE={deployed.stage!r}\n")
        archive.writestr("handler.py", "def lambda_handler(event, context): pass\n")
    deployed.package = package
    assert checks.package_is_built_for_the_stage(deployed) == [
        "old.zip holds no app/entry.py, the entry point"
    ]


def test_a_package_with_native_code_for_another_architecture_fails_its_check(deployed, tmp_path):
    """An x86_64 function given a package built for arm64 (as `zappa update` would leave a
    function deployed for x86_64 whose stage now says arm64) fails to load its libraries."""
    package = tmp_path / "arm.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("zappa_settings.py", f"API_STAGE={deployed.stage!r}\n")
        archive.writestr("app/entry.py", "def lambda_handler(event, context): pass\n")
        arm = b"\x7fELF\x02\x01\x01" + bytes(11) + (183).to_bytes(2, "little") + bytes(44)
        archive.writestr("PIL/_imaging.cpython-312-aarch64-linux-gnu.so", arm)
    deployed.package = package
    assert checks.package_is_built_for_the_stage(deployed) == [
        "arm.zip holds native code not built for x86_64: "
        "PIL/_imaging.cpython-312-aarch64-linux-gnu.so"
    ]


def test_every_zappa_step_of_the_rehearsal_is_followed_by_the_public_window_check(
    tmp_path, monkeypatch
):
    # The window check runs after each Zappa command, before flask infra up may narrow it:
    # deploy, update, status and undeploy all go through StageRehearsal.zappa.
    from rehearse.stage import StageRehearsal

    quiet = Report(print=lambda *args, **kwargs: None)
    stage = StageRehearsal("direct", "http://127.0.0.1:1", None, tmp_path, quiet)
    verified = []
    monkeypatch.setattr(stage, "_run", lambda command, cwd, environment: "")  # no Zappa run
    monkeypatch.setattr(stage, "verify", lambda when, named: verified.append((when, named)))
    for command in ("deploy", "update", "status", "undeploy"):
        stage.zappa(command)
    assert verified == [
        (f"right after zappa {command}", checks.RIGHT_AFTER_ZAPPA)
        for command in ("deploy", "update", "status", "undeploy")
    ]
    assert checks.nobody_invokes_the_function_but_through_its_url in checks.RIGHT_AFTER_ZAPPA
