"""`flask infra up|check|down`: a stage's buckets and table, created, checked, removed (moto)."""

import json
from pathlib import Path

import pytest
from botocore.stub import Stubber

from app import create_app, infra
from app.config import Settings
from app.jobs import VISITOR_INDEX
from app.services import client
from embedded_aws import connect_queue

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"


@pytest.fixture
def stage(aws):
    """The dev stage's settings as an operator's shell gives them, and clients for it."""
    settings = Settings.from_env({"STAGE": "dev", "SITE_ORIGIN": ORIGIN})
    return settings, client("s3", settings), client("dynamodb", settings)


@pytest.fixture
def stage_up(stage):
    settings, s3, dynamodb = stage
    infra.up(settings, s3, dynamodb, log=lambda message: None)
    return stage


def calls_made(*clients) -> list[str]:
    """Record the operations the clients call from now on."""
    names = []
    for each in clients:
        each.meta.events.register("before-call", lambda model, **_: names.append(model.name))
    return names


def test_up_creates_a_stage_that_check_finds_as_expected(stage):
    settings, s3, dynamodb = stage
    said = []
    infra.up(settings, s3, dynamodb, log=said.append)
    assert said == [
        f"created bucket thumbs-dev-uploads: private, encrypted, CORS for ['{ORIGIN}'], "
        "deleting uploads/ after 1 day",
        f"created bucket thumbs-dev-results: private, encrypted, CORS for ['{ORIGIN}'], "
        "deleting results/ after 7 days",
        "created table thumbs-dev-jobs: on demand, TTL on expires_at, index by_visitor",
    ]
    assert infra.check(settings, s3, dynamodb) == []


def test_up_again_only_reads(stage_up):
    settings, s3, dynamodb = stage_up
    said, calls = [], calls_made(s3, dynamodb)
    infra.up(settings, s3, dynamodb, log=said.append)
    assert said == []
    assert calls and all(c.startswith(("Get", "Head", "Describe", "List")) for c in calls), calls


def test_the_buckets_are_private_encrypted_expiring_and_open_to_the_site_only(stage_up):
    settings, s3, _ = stage_up
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


def test_the_table_is_on_demand_with_ttl_and_the_visitor_index(stage_up):
    settings, _, dynamodb = stage_up
    table = dynamodb.describe_table(TableName=settings.jobs_table)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"}]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == VISITOR_INDEX
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["visitor_id", "created_at"]
    ttl = dynamodb.describe_time_to_live(TableName=settings.jobs_table)
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }


BREAKAGES = {
    "public access": (
        lambda s3, db, n: s3.delete_public_access_block(Bucket=n.uploads_bucket),
        "thumbs-dev-uploads does not block all public access",
    ),
    "one public flag": (
        lambda s3, db, n: s3.put_public_access_block(
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
    "encryption": (
        lambda s3, db, n: s3.delete_bucket_encryption(Bucket=n.results_bucket),
        "thumbs-dev-results does not encrypt by default",
    ),
    "cors": (
        lambda s3, db, n: s3.delete_bucket_cors(Bucket=n.uploads_bucket),
        f"thumbs-dev-uploads CORS does not allow exactly ['{ORIGIN}'] to ['POST']",
    ),
    "cors origin": (
        lambda s3, db, n: s3.put_bucket_cors(
            Bucket=n.results_bucket,
            CORSConfiguration={
                "CORSRules": [{"AllowedMethods": ["GET", "HEAD"], "AllowedOrigins": ["*"]}]
            },
        ),
        "thumbs-dev-results CORS does not allow exactly",
    ),
    "lifecycle": (
        lambda s3, db, n: s3.delete_bucket_lifecycle(Bucket=n.results_bucket),
        "thumbs-dev-results has no lifecycle rule expiring results/ after 7 days",
    ),
    "ttl": (
        lambda s3, db, n: db.update_time_to_live(
            TableName=n.jobs_table,
            TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"},
        ),
        "thumbs-dev-jobs has no TTL on expires_at",
    ),
    "billing": (
        lambda s3, db, n: db.update_table(
            TableName=n.jobs_table,
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        ),
        "thumbs-dev-jobs is not on demand",
    ),
    "index": (
        lambda s3, db, n: db.update_table(
            TableName=n.jobs_table,
            GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": VISITOR_INDEX}}],
        ),
        "thumbs-dev-jobs has no by_visitor index",
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_check_reports_each_difference_and_up_puts_it_right(stage_up, breakage):
    settings, s3, dynamodb = stage_up
    breaking, expected = BREAKAGES[breakage]
    breaking(s3, dynamodb, settings)
    (problem,) = infra.check(settings, s3, dynamodb)
    assert expected in problem
    said = []
    infra.up(settings, s3, dynamodb, log=said.append)
    assert said == [f"fixed: {problem}"]
    assert infra.check(settings, s3, dynamodb) == []


def test_check_reports_what_is_missing(stage):
    settings, s3, dynamodb = stage
    assert infra.check(settings, s3, dynamodb) == [
        "bucket thumbs-dev-uploads is missing",
        "bucket thumbs-dev-results is missing",
        "table thumbs-dev-jobs is missing",
    ]


def test_check_reports_a_stage_without_a_site_origin(stage_up):
    settings, s3, dynamodb = stage_up
    no_origin = settings.replace(site_origin=())
    problems = infra.check(no_origin, s3, dynamodb)
    assert any("SITE_ORIGIN is not set" in p for p in problems)
    infra.up(no_origin, s3, dynamodb, log=lambda message: None)
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchCORSConfiguration"):
        s3.get_bucket_cors(Bucket=settings.uploads_bucket)


def test_up_leaves_the_s3_trigger_alone(stage_up):
    settings, s3, dynamodb = stage_up
    connect_queue(settings, s3, client("sqs", settings))
    infra.up(settings, s3, dynamodb, log=lambda message: None)
    notification = s3.get_bucket_notification_configuration(Bucket=settings.uploads_bucket)
    assert len(notification["QueueConfigurations"]) == 1


def test_up_refuses_a_bucket_name_another_account_owns(stage):
    settings, s3, dynamodb = stage
    with Stubber(s3) as stubbed:
        stubbed.add_client_error("head_bucket", "403", "Forbidden", 403)
        with pytest.raises(infra.InfraError, match="is not yours"):
            infra.up(settings, s3, dynamodb, log=lambda message: None)


def test_up_says_what_it_cannot_put_right(stage_up):
    settings, s3, dynamodb = stage_up
    dynamodb.update_time_to_live(
        TableName=settings.jobs_table,
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"},
    )
    dynamodb.update_time_to_live(
        TableName=settings.jobs_table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "deleted_at"},
    )
    with pytest.raises(infra.InfraError, match="TTL on deleted_at"):
        infra.up(settings, s3, dynamodb, log=lambda message: None)


def test_down_removes_every_object_version_the_buckets_and_the_table(stage_up):
    settings, s3, dynamodb = stage_up
    bucket = settings.results_bucket
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=bucket, Key="results/job/thumb.jpg", Body=body)
    s3.put_object(Bucket=settings.uploads_bucket, Key="uploads/job/a.jpg", Body=b"a")
    said = []
    infra.down(settings, s3, dynamodb, log=said.append)
    assert said == [
        "deleted bucket thumbs-dev-uploads",
        "deleted bucket thumbs-dev-results",
        "deleted table thumbs-dev-jobs",
    ]
    assert s3.list_buckets()["Buckets"] == [] and dynamodb.list_tables()["TableNames"] == []
    infra.down(settings, s3, dynamodb, log=said.append)
    assert said[-1] == "table thumbs-dev-jobs was already gone"


@pytest.fixture
def runner(aws, monkeypatch):
    monkeypatch.setenv("SITE_ORIGIN", ORIGIN)
    app = create_app({"TESTING": True, "SECRET_KEY": "k" * 48, "STAGE": "test"})
    return app.test_cli_runner()


def test_the_cli_brings_a_stage_up_checks_it_and_takes_it_down(runner, stage):
    _, s3, _ = stage
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
