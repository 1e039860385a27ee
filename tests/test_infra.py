"""`flask infra up|check|down`: a stage's buckets, table, queue and function settings,
created, checked and removed, on moto."""

import io
import json
import re
import shlex
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.stub import Stubber

from app import create_app, infra
from app.config import ConfigError, Settings
from app.jobs import OWNER_INDEX
from app.services import client

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"


@dataclass
class Stage:
    """The dev stage's settings as an operator's shell gives them, and clients for it."""

    settings: Settings
    clients: infra.Clients

    @property
    def s3(self):
        return self.clients["s3"]

    @property
    def db(self):
        return self.clients["dynamodb"]

    def up(self, log=lambda message: None, settings=None):
        infra.up(settings or self.settings, self.clients, log=log)

    def check(self, settings=None):
        return infra.check(settings or self.settings, self.clients)


@pytest.fixture
def stage(aws):
    settings = Settings.from_env({"STAGE": "dev", "SITE_ORIGIN": ORIGIN})
    return Stage(settings, infra.Clients(settings))


def deploy_function(stage: Stage) -> str:
    """Create the stage's function as zappa deploy would (moto runs nothing), with the role
    flask infra up made."""
    role = stage.clients["iam"].get_role(RoleName="thumbs-dev-ZappaLambdaExecutionRole")["Role"][
        "Arn"
    ]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context): pass\n")
    return stage.clients["lambda"].create_function(
        FunctionName="thumbs-dev",
        Runtime="python3.12",
        Role=role,
        Handler="handler.lambda_handler",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]


@pytest.fixture
def stage_up(stage):
    """The stage as the deploy guide leaves it: infra up, zappa deploy, infra up again."""
    stage.up()
    deploy_function(stage)
    stage.up()
    return stage


def calls_made(*clients) -> list[str]:
    """Record the operations the clients call from now on."""
    names = []
    for each in clients:
        each.meta.events.register("before-call", lambda model, **_: names.append(model.name))
    return names


def test_up_before_and_after_the_deploy_makes_a_stage_that_check_finds_as_expected(stage):
    said = []
    stage.up(log=said.append)
    assert said == [
        "created bucket thumbs-dev-uploads: private, ACLs off, TLS only, encrypted, "
        f"CORS for ['{ORIGIN}'], deleting uploads/ after 1 day",
        "created bucket thumbs-dev-results: private, ACLs off, TLS only, encrypted, "
        f"CORS for ['{ORIGIN}'], deleting results/ after 7 days",
        "created table thumbs-dev-jobs: on demand, TTL on expires_at, index by_owner",
        "created role thumbs-dev-ZappaLambdaExecutionRole: the function's least-privilege "
        "policy, and nothing else",
        "created queue thumbs-dev-failed-events: keeps the events the worker failed on, "
        "for 14 days",
        "function thumbs-dev is not deployed yet: run flask infra up again after zappa "
        "deploy, to keep the events it fails on",
        "created log group /aws/lambda/thumbs-dev: keeps its lines 30 days",
        "created alarm thumbs-dev-failures",
        "created alarm thumbs-dev-slow-conversions",
        "created alarm thumbs-dev-refused-events",
    ]
    assert stage.check() == ["function thumbs-dev is not deployed (zappa deploy)"]
    deploy_function(stage)
    said.clear()
    stage.up(log=said.append)
    assert said == [
        "fixed: function thumbs-dev does not send the events it fails on to "
        "arn:aws:sqs:us-east-1:123456789012:thumbs-dev-failed-events",
        "fixed: function thumbs-dev has no S3 invoke permission for "
        "arn:aws:s3:::thumbs-dev-uploads in 123456789012 only",
    ]
    assert stage.check() == []


def test_failed_events_go_to_the_queue_after_two_retries(stage_up):
    config = stage_up.clients["lambda"].get_function_event_invoke_config(FunctionName="thumbs-dev")
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"]["Destination"].endswith(
        ":thumbs-dev-failed-events"
    )
    queue = stage_up.clients["sqs"].get_queue_url(QueueName="thumbs-dev-failed-events")
    retention = stage_up.clients["sqs"].get_queue_attributes(
        QueueUrl=queue["QueueUrl"], AttributeNames=["MessageRetentionPeriod"]
    )
    assert retention["Attributes"]["MessageRetentionPeriod"] == str(14 * 24 * 3600)


def test_up_again_only_reads(stage_up):
    said = []
    services = ("s3", "dynamodb", "sqs", "lambda", "iam")
    calls = calls_made(*(stage_up.clients[name] for name in services))
    stage_up.up(log=said.append)
    assert said == []
    assert calls and all(c.startswith(("Get", "Head", "Describe", "List")) for c in calls), calls


def test_the_buckets_are_private_encrypted_expiring_and_open_to_the_site_only(stage_up):
    settings, s3 = stage_up.settings, stage_up.s3
    for bucket in (settings.uploads_bucket, settings.results_bucket):
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        (cors,) = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
        assert cors["AllowedOrigins"] == [ORIGIN]
    uploads_cors = s3.get_bucket_cors(Bucket=settings.uploads_bucket)["CORSRules"][0]
    results_cors = s3.get_bucket_cors(Bucket=settings.results_bucket)["CORSRules"][0]
    assert uploads_cors["AllowedMethods"] == ["POST"]
    assert sorted(results_cors["AllowedMethods"]) == ["GET", "HEAD"]
    expiry = {
        bucket: s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]
        for bucket in (settings.uploads_bucket, settings.results_bucket)
    }
    assert expiry[settings.uploads_bucket]["Filter"]["Prefix"] == "uploads/"
    assert expiry[settings.uploads_bucket]["Expiration"]["Days"] == 1
    assert expiry[settings.results_bucket]["Filter"]["Prefix"] == "results/"
    assert expiry[settings.results_bucket]["Expiration"]["Days"] == settings.job_ttl_days


def test_the_buckets_own_every_object_and_refuse_every_request_without_tls(stage_up):
    """ACLs off (BucketOwnerEnforced), and one policy statement: deny anything over plain
    HTTP. moto does not hold requests to it (embedded_aws/moto_gaps.py): its content is what
    this checks, as S3 would apply it."""
    s3 = stage_up.s3
    for bucket in (stage_up.settings.uploads_bucket, stage_up.settings.results_bucket):
        ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
        assert ownership == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        assert policy == {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyWithoutTLS",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }


def test_every_call_on_the_buckets_names_their_owner(stage):
    """Up, check and down name this account (STS's) as the owner of every bucket they touch:
    S3 refuses the call if another account owns a bucket of that name."""
    named = []

    def keep(params, model, **_):
        named.append((model.name, params.get("ExpectedBucketOwner")))

    stage.s3.meta.events.register("provide-client-params.s3", keep)
    stage.up()
    stage.check()
    infra.down(stage.settings, stage.clients, log=lambda message: None)
    # CreateBucket alone takes no owner: the bucket it makes is the caller's.
    strays = [(name, owner) for name, owner in named if owner != "123456789012"]
    assert strays == [("CreateBucket", None)] * 2
    assert {"HeadBucket", "PutBucketPolicy", "GetBucketOwnershipControls", "DeleteBucket"} <= {
        name for name, _ in named
    }


def test_the_table_is_on_demand_with_ttl_and_the_owner_index(stage_up):
    settings, dynamodb = stage_up.settings, stage_up.db
    table = dynamodb.describe_table(TableName=settings.jobs_table)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"}]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == OWNER_INDEX
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["owner", "created_at"]
    ttl = dynamodb.describe_time_to_live(TableName=settings.jobs_table)
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }


BREAKAGES = {
    "public access": (
        lambda st, s3, db, n: s3.delete_public_access_block(Bucket=n.uploads_bucket),
        "thumbs-dev-uploads does not block all public access",
    ),
    "one public flag": (
        lambda st, s3, db, n: s3.put_public_access_block(
            Bucket=n.results_bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": False,
                "RestrictPublicBuckets": True,
            },
        ),
        "thumbs-dev-results does not block all public",
    ),
    "acls on": (
        lambda st, s3, db, n: s3.put_bucket_ownership_controls(
            Bucket=n.uploads_bucket,
            OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]},
        ),
        "thumbs-dev-uploads does not turn ACLs off",
    ),
    "no policy": (
        lambda st, s3, db, n: s3.delete_bucket_policy(Bucket=n.results_bucket),
        "thumbs-dev-results's policy is not exactly: deny every request without TLS",
    ),
    "a policy that also allows": (
        lambda st, s3, db, n: s3.put_bucket_policy(
            Bucket=n.uploads_bucket,
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        *infra.buckets.tls_only_policy(n.uploads_bucket)["Statement"],
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
                            "Action": "s3:GetObject",
                            "Resource": f"arn:aws:s3:::{n.uploads_bucket}/*",
                        },
                    ],
                }
            ),
        ),
        "thumbs-dev-uploads's policy is not exactly",
    ),
    "encryption": (
        lambda st, s3, db, n: s3.delete_bucket_encryption(Bucket=n.results_bucket),
        "thumbs-dev-results does not encrypt by default",
    ),
    "cors": (
        lambda st, s3, db, n: s3.delete_bucket_cors(Bucket=n.uploads_bucket),
        f"thumbs-dev-uploads CORS does not allow exactly ['{ORIGIN}'] to ['POST']",
    ),
    "cors origin": (
        lambda st, s3, db, n: s3.put_bucket_cors(
            Bucket=n.results_bucket,
            CORSConfiguration={
                "CORSRules": [{"AllowedMethods": ["GET", "HEAD"], "AllowedOrigins": ["*"]}]
            },
        ),
        "thumbs-dev-results CORS does not allow exactly",
    ),
    "lifecycle": (
        lambda st, s3, db, n: s3.delete_bucket_lifecycle(Bucket=n.results_bucket),
        "thumbs-dev-results has no lifecycle rule expiring results/ after 7 days",
    ),
    "ttl": (
        lambda st, s3, db, n: db.update_time_to_live(
            TableName=n.jobs_table,
            TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"},
        ),
        "thumbs-dev-jobs has no TTL on expires_at",
    ),
    "billing": (
        lambda st, s3, db, n: db.update_table(
            TableName=n.jobs_table,
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        ),
        "thumbs-dev-jobs is not on demand",
    ),
    "index": (
        lambda st, s3, db, n: db.update_table(
            TableName=n.jobs_table,
            GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": OWNER_INDEX}}],
        ),
        "thumbs-dev-jobs has no by_owner index",
    ),
    "failed-events queue": (
        lambda st, s3, db, n: st.clients["sqs"].delete_queue(
            QueueUrl=st.clients["sqs"].get_queue_url(QueueName=n.failed_events_queue)["QueueUrl"]
        ),
        "queue thumbs-dev-failed-events is missing",
    ),
    "alarm threshold": (
        lambda st, s3, db, n: st.clients["cloudwatch"].put_metric_alarm(
            **{**infra.alarms.alarms(n)[0], "Threshold": 500.0}
        ),
        "alarm thumbs-dev-failures differs from its setup",
    ),
    "log retention": (
        lambda st, s3, db, n: st.clients["logs"].delete_retention_policy(
            logGroupName=f"/aws/lambda/{n.function_name}"
        ),
        "log group /aws/lambda/thumbs-dev keeps its lines forever, not 30 days",
    ),
    "on-failure destination": (
        lambda st, s3, db, n: st.clients["lambda"].delete_function_event_invoke_config(
            FunctionName=n.function_name
        ),
        "thumbs-dev does not send the events it fails on",
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_check_reports_each_difference_and_up_puts_it_right(stage_up, breakage):
    breaking, expected = BREAKAGES[breakage]
    breaking(stage_up, stage_up.s3, stage_up.db, stage_up.settings)
    (problem,) = stage_up.check()
    assert expected in problem
    said = []
    stage_up.up(log=said.append)
    if breakage == "failed-events queue":
        assert said[0].startswith("created queue thumbs-dev-failed-events")
    else:
        assert said == [f"fixed: {problem}"]
    assert stage_up.check() == []


def test_up_removes_the_index_of_an_earlier_version_once_its_successor_exists(stage_up):
    stage_up.db.update_table(
        TableName=stage_up.settings.jobs_table,
        AttributeDefinitions=[
            {"AttributeName": "visitor_id", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by_visitor",
                    "KeySchema": [
                        {"AttributeName": "visitor_id", "KeyType": "HASH"},
                        {"AttributeName": "created_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            }
        ],
    )
    (problem,) = stage_up.check()
    assert "still has the index by_visitor" in problem
    stage_up.up()
    table = stage_up.db.describe_table(TableName=stage_up.settings.jobs_table)["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == [OWNER_INDEX]


def test_check_reports_what_is_missing(stage):
    assert stage.check() == [
        "bucket thumbs-dev-uploads is missing",
        "bucket thumbs-dev-results is missing",
        "table thumbs-dev-jobs is missing",
        "role thumbs-dev-ZappaLambdaExecutionRole is missing",
        "queue thumbs-dev-failed-events is missing",
        "function thumbs-dev is not deployed (zappa deploy)",
        "log group /aws/lambda/thumbs-dev is missing",
        "alarm thumbs-dev-failures is missing",
        "alarm thumbs-dev-slow-conversions is missing",
        "alarm thumbs-dev-refused-events is missing",
    ]


def test_check_reports_a_stage_without_a_site_origin(stage_up):
    no_origin = stage_up.settings.replace(site_origin=())
    problems = stage_up.check(no_origin)
    assert any("SITE_ORIGIN is not set" in p for p in problems)
    stage_up.up(settings=no_origin)
    with pytest.raises(stage_up.s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
        stage_up.s3.get_bucket_cors(Bucket=no_origin.uploads_bucket)


def test_up_leaves_the_s3_trigger_alone(stage_up):
    settings, s3 = stage_up.settings, stage_up.s3
    sqs = client("sqs", settings)
    queue = sqs.create_queue(QueueName="thumbs-dev-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    s3.put_bucket_notification_configuration(
        Bucket=settings.uploads_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn["QueueArn"], "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    stage_up.up()
    notification = s3.get_bucket_notification_configuration(Bucket=settings.uploads_bucket)
    assert len(notification["QueueConfigurations"]) == 1


def test_up_refuses_a_bucket_name_another_account_owns(stage):
    with Stubber(stage.s3) as stubbed:
        stubbed.add_client_error("head_bucket", "403", "Forbidden", 403)
        with pytest.raises(infra.InfraError, match="account 123456789012 does not own it"):
            stage.up()


def test_up_says_what_it_cannot_put_right(stage_up):
    settings, dynamodb = stage_up.settings, stage_up.db
    dynamodb.update_time_to_live(
        TableName=settings.jobs_table,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"},
    )
    dynamodb.update_time_to_live(
        TableName=settings.jobs_table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "deleted_at"},
    )
    with pytest.raises(infra.InfraError, match="TTL on deleted_at"):
        stage_up.up()


def test_down_removes_every_object_version_the_buckets_the_table_and_the_queue(stage_up):
    settings, s3, dynamodb = stage_up.settings, stage_up.s3, stage_up.db
    bucket = settings.results_bucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=bucket, Key="results/job/thumb.jpg", Body=body)
    s3.put_object(Bucket=settings.uploads_bucket, Key="uploads/job/a.jpg", Body=b"a")
    said = []
    infra.down(settings, stage_up.clients, log=said.append)
    assert said == [
        "deleted bucket thumbs-dev-uploads",
        "deleted bucket thumbs-dev-results",
        "deleted table thumbs-dev-jobs",
        "deleted role thumbs-dev-ZappaLambdaExecutionRole",
        "deleted queue thumbs-dev-failed-events",
        "deleted alarms thumbs-dev-failures, thumbs-dev-slow-conversions, "
        "thumbs-dev-refused-events",
    ]
    assert s3.list_buckets()["Buckets"] == [] and dynamodb.list_tables()["TableNames"] == []
    infra.down(settings, stage_up.clients, log=said.append)
    assert said[-4:-1] == [
        "table thumbs-dev-jobs was already gone",
        "role thumbs-dev-ZappaLambdaExecutionRole was already gone",
        "queue thumbs-dev-failed-events was already gone",
    ]


@pytest.fixture
def runner(aws, monkeypatch):
    monkeypatch.setenv("SITE_ORIGIN", ORIGIN)
    app = create_app({"TESTING": True, "SECRET_KEY": "k" * 48, "STAGE": "test"})
    return app.test_cli_runner()


def test_the_cli_brings_a_stage_up_checks_it_and_takes_it_down(runner, stage):
    s3 = stage.s3
    assert runner.invoke(args=["infra", "check", "--stage", "dev"]).exit_code == 1
    made = runner.invoke(args=["infra", "up", "--stage", "dev"])
    assert made.exit_code == 0 and "stage dev is up" in made.output
    fine = runner.invoke(args=["infra", "check", "--stage", "dev"])
    assert fine.exit_code == 0 and "as expected" in fine.output
    s3.delete_bucket_cors(Bucket="thumbs-dev-uploads")
    s3.delete_bucket_encryption(Bucket="thumbs-dev-results")
    broken = runner.invoke(args=["infra", "check", "--stage", "dev"])
    assert broken.exit_code == 1
    assert [line for line in broken.output.splitlines() if line.startswith("- ")] == [
        f"- bucket thumbs-dev-uploads CORS does not allow exactly ['{ORIGIN}', "
        "'http://127.0.0.1:*', 'http://localhost:*'] to ['POST']",
        "- bucket thumbs-dev-results does not encrypt by default with SSE-S3 (AES256)",
    ]
    refused = runner.invoke(args=["infra", "down", "--stage", "dev"], input="n\n")
    assert refused.exit_code == 1 and s3.head_bucket(Bucket="thumbs-dev-uploads")
    gone = runner.invoke(args=["infra", "down", "--stage", "dev", "--yes"])
    assert gone.exit_code == 0 and "deleted table thumbs-dev-jobs" in gone.output
    assert s3.list_buckets()["Buckets"] == []


@pytest.mark.parametrize("stage_name", ["dev", "production"])
def test_the_cli_prints_the_policy_file_zappa_attaches(runner, stage_name, monkeypatch):
    # Local mode leaves its own stage's names in the environment, for its worker.
    monkeypatch.setenv("UPLOADS_BUCKET", "thumbs-test-uploads")
    monkeypatch.setenv("JOBS_TABLE", "thumbs-test-jobs")
    printed = runner.invoke(args=["infra", "policy", "--stage", stage_name])
    assert printed.exit_code == 0
    on_disk = json.loads((ROOT / "deploy" / f"policy-{stage_name}.json").read_text())
    assert json.loads(printed.output) == on_disk


def test_the_alarms_watch_failures_slow_conversions_and_refusals_and_notify_the_topic(stage):
    topic = "arn:aws:sns:us-east-1:123456789012:thumbs-alerts"
    stage.up(settings=stage.settings.replace(alarm_topic_arn=topic))
    found = {
        alarm["AlarmName"]: alarm
        for alarm in stage.clients["cloudwatch"].describe_alarms()["MetricAlarms"]
    }
    failures, slow = found["thumbs-dev-failures"], found["thumbs-dev-slow-conversions"]
    assert (failures["Namespace"], failures["MetricName"], failures["Statistic"]) == (
        "Thumbs",
        "failures",
        "Sum",
    )
    assert (slow["MetricName"], slow["ExtendedStatistic"], slow["Threshold"]) == (
        "conversion_ms",
        "p95",
        5000.0,
    )
    refused = found["thumbs-dev-refused-events"]
    assert (refused["MetricName"], refused["Statistic"], refused["Threshold"]) == (
        "refused_events",
        "Sum",
        1.0,
    )
    for alarm in (failures, slow, refused):
        assert alarm["Dimensions"] == [{"Name": "stage", "Value": "dev"}]
        assert alarm["AlarmActions"] == [topic]


def test_the_documented_alarm_commands_make_the_alarms_infra_up_makes(stage):
    """docs/operations.md's `aws cloudwatch put-metric-alarm` lines, read as the CLI reads them."""
    page = (ROOT / "docs" / "operations.md").read_text()
    section = page[page.index("## Metrics and alarms") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    commands = [shlex.split(line) for line in block.splitlines() if line.strip()]
    assert [c[:3] for c in commands] == [["aws", "cloudwatch", "put-metric-alarm"]] * 3
    documented = [_alarm_arguments(command[3:]) for command in commands]
    expected = [
        {
            k: v
            for k, v in alarm.items()
            if k not in ("AlarmDescription", "AlarmActions", "OKActions")
        }
        for alarm in infra.alarms.alarms(stage.settings)
    ]
    assert documented == expected


BUDGET = 50


def billing_alarms(cloudwatch) -> list[dict]:
    return cloudwatch.describe_alarms(AlarmNames=["thumbs-dev-billing"])["MetricAlarms"]


def test_a_billing_alarm_at_the_operators_threshold_watches_the_accounts_charges(stage):
    topic = "arn:aws:sns:us-east-1:123456789012:thumbs-alerts"
    settings = stage.settings.replace(billing_alarm_usd=BUDGET, alarm_topic_arn=topic)
    said = []
    stage.up(said.append, settings=settings)
    (alarm,) = billing_alarms(stage.clients["cloudwatch"])
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/Billing",
        "EstimatedCharges",
        "Maximum",
    )
    assert alarm["Dimensions"] == [{"Name": "Currency", "Value": "USD"}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (50.0, "GreaterThanThreshold")
    assert alarm["Period"] == 21600 and alarm["AlarmActions"] == [topic]
    assert "created alarm thumbs-dev-billing" in said
    again = []
    stage.up(again.append, settings=settings)
    assert not [line for line in again if "billing" in line]  # idempotent
    assert not [p for p in stage.check(settings) if "billing" in p]


def test_a_new_threshold_is_reported_then_applied_and_none_leaves_the_alarm_alone(stage):
    stage.up(settings=stage.settings.replace(billing_alarm_usd=BUDGET))
    raised = stage.settings.replace(billing_alarm_usd=200)
    assert "alarm thumbs-dev-billing differs from its setup" in stage.check(raised)
    stage.up(settings=raised)
    assert billing_alarms(stage.clients["cloudwatch"])[0]["Threshold"] == 200.0
    # An operator's shell without BILLING_ALARM_USD neither deletes nor reports it.
    stage.up(settings=stage.settings)
    assert billing_alarms(stage.clients["cloudwatch"])[0]["Threshold"] == 200.0
    assert not [p for p in stage.check() if "billing" in p]
    infra.down(stage.settings, stage.clients, log=lambda message: None)
    assert billing_alarms(stage.clients["cloudwatch"]) == []


def test_without_a_threshold_no_billing_alarm_is_made(stage):
    stage.up()
    assert billing_alarms(stage.clients["cloudwatch"]) == []


def test_the_billing_alarm_is_made_in_us_east_1_whatever_the_stages_region(aws):
    settings = Settings.from_env(
        {
            "STAGE": "dev",
            "SITE_ORIGIN": ORIGIN,
            "AWS_REGION": "eu-west-1",
            "BILLING_ALARM_USD": "50",
        }
    )
    clients = infra.Clients(settings)
    infra.alarms.up(settings, clients, log=lambda message: None)
    assert billing_alarms(client("cloudwatch", settings.replace(aws_region="us-east-1")))
    assert billing_alarms(clients["cloudwatch"]) == []  # eu-west-1 has no billing metric


def test_a_negative_billing_threshold_is_refused_with_what_to_set():
    with pytest.raises(ConfigError, match="BILLING_ALARM_USD is -5"):
        Settings.from_env({"BILLING_ALARM_USD": "-5"})


def test_the_billing_alarm_on_the_embedded_aws(site_aws):
    settings = Settings(stage="dev", aws_endpoint_url=site_aws["endpoint"], billing_alarm_usd=20)
    infra.up(settings, log=lambda message: None)
    cloudwatch = client("cloudwatch", settings)
    assert billing_alarms(cloudwatch)[0]["Threshold"] == 20.0
    assert not [p for p in infra.check(settings) if "billing" in p]
    infra.down(settings, log=lambda message: None)
    assert billing_alarms(cloudwatch) == []


def test_the_documented_billing_alarm_command_makes_the_alarm_infra_up_makes(stage):
    page = (ROOT / "docs" / "operations.md").read_text()
    section = page[page.index("### A billing alarm") :]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    lines = "".join(blocks).replace("\\\n", " ").splitlines()
    (command,) = [shlex.split(line) for line in lines if "put-metric-alarm" in line]
    assert command[:5] == ["aws", "cloudwatch", "put-metric-alarm", "--region", "us-east-1"]
    production = stage.settings.for_stage("production").replace(billing_alarm_usd=BUDGET)
    expected = infra.alarms.billing_alarm(production)
    ignored = ("AlarmDescription", "AlarmActions", "OKActions")
    assert _alarm_arguments(command[5:]) == {k: v for k, v in expected.items() if k not in ignored}


def _alarm_arguments(words: list[str]) -> dict:
    """Return put_metric_alarm's arguments from the CLI's options for it."""
    numbers = {
        "Period": int,
        "EvaluationPeriods": int,
        "DatapointsToAlarm": int,
        "Threshold": float,
    }
    arguments = {}
    for option, value in zip(words[::2], words[1::2], strict=True):
        name = "".join(part.capitalize() for part in option.removeprefix("--").split("-"))
        if name == "Dimensions":
            pairs = dict(part.split("=", 1) for part in value.split(","))
            arguments[name] = [{"Name": pairs["Name"], "Value": pairs["Value"]}]
        else:
            arguments[name] = numbers.get(name, str)(value)
    return arguments


def test_up_throttles_the_stages_rest_api_once_zappa_has_made_it(stage_up):
    apigateway = stage_up.clients["apigateway"]
    api = apigateway.create_rest_api(name="thumbs-dev")["id"]
    root = apigateway.get_resources(restApiId=api)["items"][0]["id"]
    apigateway.put_method(
        restApiId=api, resourceId=root, httpMethod="ANY", authorizationType="NONE"
    )
    apigateway.put_integration(restApiId=api, resourceId=root, httpMethod="ANY", type="MOCK")
    apigateway.create_deployment(restApiId=api, stageName="dev")
    (problem,) = stage_up.check()
    assert "not throttled to 50 requests a second, bursts of 100" in problem
    stage_up.up(settings=stage_up.settings.replace(api_rate_limit=20, api_burst_limit=40))
    method = apigateway.get_stage(restApiId=api, stageName="dev")["methodSettings"]["*/*"]
    assert (method["throttlingRateLimit"], method["throttlingBurstLimit"]) == (20.0, 40)
    stage_up.up()
    assert stage_up.check() == []


def test_every_log_group_of_the_stage_expires_its_lines(stage):
    logs = stage.clients["logs"]
    logs.create_log_group(logGroupName="/aws/lambda/thumbs-dev")  # as Lambda makes it
    logs.create_log_group(logGroupName="/aws/lambda/thumbs-other")  # another stage's
    stage.up()
    groups = {
        g["logGroupName"]: g.get("retentionInDays") for g in logs.describe_log_groups()["logGroups"]
    }
    assert groups == {"/aws/lambda/thumbs-dev": 30, "/aws/lambda/thumbs-other": None}
    assert stage.settings.log_retention_days == 30
