"""zappa_settings.json describes a safe deployment, and its policy files are current."""

import json
import re
from pathlib import Path

import pytest

from app.config import Settings
from app.iam import iam_policy

from lambda_stage import zappa_cli

ROOT = Path(__file__).resolve().parent.parent
STAGES = ["dev", "production", "direct", "arm64"]


def stage_settings(stage: str) -> dict:
    return zappa_cli(stage).stage_config


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_is_safe_by_default(stage, monkeypatch):
    monkeypatch.chdir(ROOT)
    settings = stage_settings(stage)
    assert settings["app_function"] == "wsgi.app"
    assert settings["runtime"] == "python3.12"
    assert settings["debug"] is False and settings["keep_warm"] is False
    assert settings["aws_environment_variables"]["STAGE"] == stage
    assert "environment_variables" not in settings  # those would be baked into the package
    assert {"boto3", "botocore", "tests"} <= set(settings["exclude"])


@pytest.mark.parametrize("stage", STAGES)
def test_the_s3_trigger_calls_the_worker_for_uploads_only(stage, monkeypatch):
    monkeypatch.chdir(ROOT)
    (event,) = [e for e in stage_settings(stage)["events"] if "event_source" in e]
    names = Settings(stage=stage)
    assert event["function"] == "app.worker.handle_s3_event"
    assert event["event_source"]["arn"] == f"arn:aws:s3:::{names.uploads_bucket}"
    assert event["event_source"]["prefix"] == "uploads/"
    assert event["event_source"]["events"] == ["s3:ObjectCreated:*"]


@pytest.mark.parametrize("stage", STAGES)
def test_the_reconciler_runs_every_few_minutes_and_zappas_handler_finds_it(stage, monkeypatch):
    monkeypatch.chdir(ROOT)
    cli = zappa_cli(stage)
    (event,) = [e for e in cli.stage_config["events"] if "expression" in e]
    assert event == {"function": "app.reconciler.handle_schedule", "expression": "rate(2 minutes)"}
    # Zappa names the rule after the function, and its handler finds the function by the
    # rule's name, from the last "-".
    rule = cli.zappa.get_scheduled_event_name(event, event["function"], f"thumbs-{stage}")
    assert rule.split("-")[-1] == "app.reconciler.handle_schedule"


@pytest.mark.parametrize("stage", STAGES)
def test_the_attached_policy_is_the_generated_least_privilege_one(stage, monkeypatch):
    monkeypatch.chdir(ROOT)
    settings = stage_settings(stage)
    attached = json.loads((ROOT / settings["attach_policy"]).read_text())
    names = Settings.from_env(settings["aws_environment_variables"])
    assert attached == iam_policy(names)
    actions = {a for s in attached["Statement"] for a in s["Action"]}
    assert not any(a.endswith(":*") for a in actions)
    resources = [
        r
        for s in attached["Statement"]
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    # Every grant names this stage's own function, buckets, table or parameter.
    assert all(f"thumbs-{stage}" in r or f"/thumbs/{stage}/" in r for r in resources), resources


def test_every_stage_name_makes_valid_bucket_names():
    """Zappa allows [A-Za-z0-9_] in a stage's name, which names its buckets; S3 allows no _
    and no capitals in a bucket's name."""
    stages = json.loads((ROOT / "zappa_settings.json").read_text())
    for stage in stages:
        assert re.fullmatch(r"[a-z0-9]+", stage), stage
        names = Settings(stage=stage)
        for bucket in (names.uploads_bucket, names.results_bucket):
            assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket), bucket


def test_the_direct_stage_is_served_by_a_function_url_without_api_gateway(monkeypatch):
    monkeypatch.chdir(ROOT)
    cli = zappa_cli("direct")
    assert cli.use_function_url is True and cli.use_apigateway is False
    assert cli.function_url_config["authorizer"] == "NONE"
    assert cli.stage_config["aws_environment_variables"]["STAGE"] == "direct"


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_arm64_stage_runs_on_graviton_and_its_package_is_built_for_it(stage, monkeypatch):
    from deploy.package import architecture

    monkeypatch.chdir(ROOT)
    expected = "arm64" if stage == "arm64" else "x86_64"
    assert stage_settings(stage).get("architecture", "x86_64") == expected
    assert architecture(stage) == expected


def test_each_rendition_may_name_its_own_quality_and_the_rest_take_jpeg_quality():
    settings = Settings.from_env({"RENDITIONS": "thumb:256,preview:1024:75", "JPEG_QUALITY": "90"})
    assert settings.rendition_specs == [("thumb", 256), ("preview", 1024)]
    assert settings.rendition_qualities == {256: 90, 1024: 75}
    assert Settings().rendition_qualities == {256: 85, 1024: 75}  # the defaults


@pytest.mark.parametrize(
    "renditions",
    ["thumb:256,preview:1024:0", "preview:1024:101", "preview:1024:best", "preview", "a:1:2:3"],
)
def test_a_rendition_quality_out_of_range_or_unreadable_refuses_to_start(renditions):
    from app.config import ConfigError

    with pytest.raises(ConfigError, match=r"RENDITIONS is .*: give each as name:longest side"):
        Settings.from_env({"RENDITIONS": renditions})
