"""`flask infra up` makes the function's role before `zappa deploy -z` needs it, and leaves one S3
invoke permission, limited to the uploads bucket of this account, after each deploy and update."""

import io
import json
import uuid
import zipfile
from pathlib import Path

import pytest

from app import create_app, infra
from app.cli import operator_app
from app.config import ConfigError, Settings
from app.infra import permission, role
from rehearse.checks import policy_for_account

ROOT = Path(__file__).resolve().parent.parent
ROLE = "thumbs-dev-ZappaLambdaExecutionRole"
UPLOADS = "arn:aws:s3:::thumbs-dev-uploads"
ACCOUNT = "123456789012"
WIDE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}


@pytest.fixture
def settings(aws):
    return Settings.from_env({"STAGE": "dev", "SITE_ORIGIN": "https://example.org"})


@pytest.fixture
def clients(settings):
    return infra.Clients(settings)


@pytest.fixture
def deployed(settings, clients):
    """The stage after flask infra up, a deploy (with Zappa's two S3 permissions), infra up."""
    infra.up(settings, clients, log=lambda message: None)
    _zappa_deploys(clients)
    infra.up(settings, clients, log=lambda message: None)
    return clients


def _zappa_deploys(clients) -> None:
    """Create the function, and change its permissions as Zappa 0.63's deploy and update do."""
    lambda_ = clients["lambda"]
    try:
        lambda_.get_function(FunctionName="thumbs-dev")
    except lambda_.exceptions.ResourceNotFoundException:
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("handler.py", "def lambda_handler(event, context): pass\n")
        lambda_.create_function(
            FunctionName="thumbs-dev",
            Runtime="python3.12",
            Role=clients["iam"].get_role(RoleName=ROLE)["Role"]["Arn"],
            Handler="handler.lambda_handler",
            Code={"ZipFile": code.getvalue()},
        )
    for statement in _statements(clients):  # its scheduled events' and its fixed-id S3 one
        if statement["Sid"] == "s3-thumbs-dev-uploads" or _service(statement) == "events":
            lambda_.remove_permission(FunctionName="thumbs-dev", StatementId=statement["Sid"])
    rule = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/thumbs-dev-app.reconciler.handle_schedule"
    for sid, principal, source, account in (
        (_random_id(), "s3.amazonaws.com", UPLOADS, ACCOUNT),
        ("s3-thumbs-dev-uploads", "s3.amazonaws.com", UPLOADS, None),
        (_random_id(), "events.amazonaws.com", rule, ACCOUNT),
    ):
        lambda_.add_permission(
            FunctionName="thumbs-dev",
            StatementId=sid,
            Action="lambda:InvokeFunction",
            Principal=principal,
            SourceArn=source,
            **({"SourceAccount": account} if account else {}),
        )


def _random_id() -> str:
    return uuid.uuid4().hex[:8].upper()


def _service(statement: dict) -> str:
    return statement["Principal"]["Service"].split(".")[0]


def _statements(clients) -> list[dict]:
    try:
        policy = clients["lambda"].get_policy(FunctionName="thumbs-dev")["Policy"]
    except clients["lambda"].exceptions.ResourceNotFoundException:
        return []
    return json.loads(policy)["Statement"]


def test_the_role_holds_exactly_the_policy_file_zappa_would_attach(settings, clients):
    said = []
    infra.up(settings, clients, log=said.append)
    assert f"created role {ROLE}: the function's least-privilege policy, and nothing else" in said
    iam = clients["iam"]
    assert iam.list_role_policies(RoleName=ROLE)["PolicyNames"] == ["zappa-permissions"]
    document = iam.get_role_policy(RoleName=ROLE, PolicyName="zappa-permissions")
    on_disk = policy_for_account(ROOT / "deploy" / "policy-dev.json", ACCOUNT)
    assert document["PolicyDocument"] == on_disk
    assert iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []
    trust = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    assert trust == role.TRUST_POLICY


ROLE_BREAKAGES = {
    "another inline policy": (
        lambda iam: iam.put_role_policy(
            RoleName=ROLE,
            PolicyName="extra",
            PolicyDocument=json.dumps(WIDE),
        ),
        f"role {ROLE} has another inline policy, extra",
    ),
    "a managed policy": (
        lambda iam: iam.attach_role_policy(
            RoleName=ROLE,
            PolicyArn=iam.create_policy(PolicyName="wide", PolicyDocument=json.dumps(WIDE))[
                "Policy"
            ]["Arn"],
        ),
        f"has the managed policy arn:aws:iam::{ACCOUNT}:policy/wide attached",
    ),
    "Zappa's default policy": (
        lambda iam: iam.put_role_policy(
            RoleName=ROLE,
            PolicyName="zappa-permissions",
            PolicyDocument=json.dumps(WIDE),
        ),
        "policy zappa-permissions is not the function's least-privilege policy",
    ),
    "a wider trust": (
        lambda iam: iam.update_assume_role_policy(
            RoleName=ROLE,
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": "*"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        ),
        "is not trusted by exactly Zappa's services",
    ),
}


@pytest.mark.parametrize("breakage", ROLE_BREAKAGES)
def test_check_reports_a_changed_role_and_up_puts_it_right(deployed, settings, breakage):
    breaking, expected = ROLE_BREAKAGES[breakage]
    breaking(deployed["iam"])
    (problem,) = infra.check(settings, deployed)
    assert expected in problem
    said = []
    infra.up(settings, deployed, log=said.append)
    assert said == [f"fixed: {problem}"]
    assert infra.check(settings, deployed) == []


def test_after_each_deploy_and_update_one_s3_permission_is_left_with_account_and_bucket(
    deployed, settings
):
    sizes = []
    for _ in range(3):  # each update adds Zappa's two S3 permissions again
        _zappa_deploys(deployed)
        assert len(permission.s3_statements({"Statement": _statements(deployed)})) == 3
        infra.up(settings, deployed, log=lambda message: None)
        sizes.append(len(_statements(deployed)))
    (s3,) = permission.s3_statements({"Statement": _statements(deployed)})
    assert s3["Sid"] == permission.STATEMENT_ID and s3["Action"] == "lambda:InvokeFunction"
    assert s3["Condition"] == {
        "StringEquals": {"AWS:SourceAccount": ACCOUNT},
        "ArnLike": {"AWS:SourceArn": UPLOADS},
    }
    # Zappa replaces its scheduled event's permission itself: S3's and that one remain.
    assert sizes == [2, 2, 2]


def test_check_names_each_s3_permission_zappa_added(deployed, settings):
    _zappa_deploys(deployed)
    zappas = [
        s["Sid"]
        for s in permission.s3_statements({"Statement": _statements(deployed)})
        if s["Sid"] != permission.STATEMENT_ID
    ]
    assert len(zappas) == 2
    assert infra.check(settings, deployed) == [
        f"function thumbs-dev lets S3 invoke it under another statement, {sid}" for sid in zappas
    ]


def test_a_permission_for_another_bucket_or_account_is_replaced(deployed, settings):
    lambda_ = deployed["lambda"]
    lambda_.remove_permission(FunctionName="thumbs-dev", StatementId=permission.STATEMENT_ID)
    lambda_.add_permission(
        FunctionName="thumbs-dev",
        StatementId=permission.STATEMENT_ID,
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::someone-elses-bucket",
    )
    (problem,) = infra.check(settings, deployed)
    assert problem == (
        f"function thumbs-dev has no S3 invoke permission for {UPLOADS} in {ACCOUNT} only"
    )
    infra.up(settings, deployed, log=lambda message: None)
    (s3,) = permission.s3_statements({"Statement": _statements(deployed)})
    assert s3["Condition"]["ArnLike"]["AWS:SourceArn"] == UPLOADS


def test_local_mode_makes_no_role_and_no_permission(aws):
    local = Settings.from_env({"STAGE": "dev", "LOCAL_AWS": "1"})
    clients = infra.Clients(local)
    infra.up(local, clients, log=lambda message: None)
    assert clients["iam"].list_roles()["Roles"] == []
    assert infra.check(local, clients) == []


def test_an_operator_runs_infra_up_before_the_first_deploy_without_a_key_or_an_origin(
    aws, monkeypatch
):
    # The deploy guide's shell after step 2: the key in Parameter Store, no SITE_ORIGIN yet
    # (the deploy prints it).
    monkeypatch.setenv("STAGE", "dev")
    monkeypatch.setenv("SECRET_KEY_PARAMETER", "/thumbs/dev/secret-key")
    clients = infra.Clients(Settings(stage="dev"))
    clients["ssm"].put_parameter(Name="/thumbs/dev/secret-key", Type="SecureString", Value="k" * 48)
    with pytest.raises(ConfigError, match="SITE_ORIGIN is not set"):
        create_app()  # the site refuses, as it should
    runner = operator_app().test_cli_runner()
    made = runner.invoke(args=["infra", "up", "--stage", "dev"])
    assert made.exit_code == 0, made.output
    assert f"created role {ROLE}" in made.output and "stage dev is up" in made.output
