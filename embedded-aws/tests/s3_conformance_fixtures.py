"""The conformance tests' fixtures, a pytest plugin each conformance module asks for with
`pytest_plugins`: a conftest.py here would be imported as `conftest`, the name the site's own
tests import theirs by."""

from __future__ import annotations

import pytest
from s3_conformance import Clock, GatedS3, Signer


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def s3(clock, monkeypatch):
    """The gate and moto, fresh for each test; boto3 in this test reaches moto in-process."""
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield GatedS3(clock)


@pytest.fixture
def signer() -> Signer:
    return Signer()
