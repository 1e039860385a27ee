"""The pytest plugin, as another project meets it: found through its entry point, a fresh
account per test, a port per xdist worker, moto imported only when the fixture is used."""

from __future__ import annotations

import json

pytest_plugins = ["pytester"]


def test_each_test_gets_an_empty_account_and_boto3_finds_it(pytester):
    pytester.makepyfile(
        """
        import os
        import boto3

        def test_one(embedded_aws):
            assert os.environ["AWS_ENDPOINT_URL"] == embedded_aws.endpoint_url
            assert "AWS_PROFILE" not in os.environ
            boto3.client("s3").create_bucket(Bucket="left-behind")
            assert [b["Name"] for b in embedded_aws.client("s3").list_buckets()["Buckets"]] == [
                "left-behind"
            ]

        def test_two(embedded_aws):
            assert embedded_aws.client("s3").list_buckets()["Buckets"] == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_moto_is_imported_only_by_a_test_that_uses_the_fixture(pytester):
    pytester.makepyfile(
        """
        import sys

        def test_without():
            assert "moto" not in sys.modules and "boto3" not in sys.modules

        def test_with(embedded_aws):
            assert "moto" in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_each_xdist_worker_gets_a_free_port_of_its_own(pytester):
    pytester.makepyfile(
        """
        import json, os

        def test_port(embedded_aws, tmp_path_factory):
            worker = os.environ["PYTEST_XDIST_WORKER"]
            out = tmp_path_factory.getbasetemp().parent.parent / f"port-{worker}.json"
            out.write_text(json.dumps(embedded_aws.endpoint_url))
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--dist", "each", f"--basetemp={pytester.path}/b"
    )
    result.assert_outcomes(passed=2)
    found = [json.loads(p.read_text()) for p in pytester.path.glob("port-gw*.json")]
    assert len(found) == 2 and len(set(found)) == 2, found


def test_a_handler_that_fails_for_good_fails_the_test_at_settle(pytester):
    pytester.makepyfile(
        """
        import pytest
        from embedded_aws.plugin import HandlerFailed

        def broken(event, context):
            raise ValueError("cannot read " + event["Records"][0]["s3"]["object"]["key"])

        def test_settle(embedded_aws):
            s3 = embedded_aws.client("s3")
            s3.create_bucket(Bucket="uploads")
            embedded_aws.on_s3_event("uploads", broken)
            s3.put_object(Bucket="uploads", Key="x.jpg", Body=b"1")
            with pytest.raises(HandlerFailed, match="cannot read x.jpg"):
                embedded_aws.settle()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_injected_faults_reach_the_sdk_as_aws_errors(pytester):
    pytester.makepyfile(
        """
        import pytest
        from botocore.config import Config
        from botocore.exceptions import ClientError

        def test_throttled(embedded_aws):
            once = Config(retries={"total_max_attempts": 1, "mode": "standard"})
            s3 = embedded_aws.client("s3", config=once)
            embedded_aws.fail_next("s3", 1, "throttle")
            with pytest.raises(ClientError, match="SlowDown"):
                s3.list_buckets()
            assert s3.list_buckets()["Buckets"] == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
