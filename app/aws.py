"""boto3 clients with one retry policy, and the services the site and the worker use."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import boto3
import botocore.session
from botocore.config import Config

from .jobs import JobStore
from .storage import Storage


@dataclass(frozen=True)
class Services:
    """What a request or an event needs from AWS; clients only, never data."""

    settings: dict
    storage: Storage
    jobs: JobStore


def client(service: str, settings: dict):
    """Return a boto3 client for `service`, with botocore's standard retries and backoff."""
    endpoint = settings.get("AWS_ENDPOINT_URL")
    options = {
        "retries": {"mode": "standard", "max_attempts": settings["AWS_MAX_ATTEMPTS"]},
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    if service == "s3":
        options["signature_version"] = "s3v4"
        # A localhost endpoint has no bucket subdomains; AWS prefers virtual hosts.
        options["s3"] = {"addressing_style": "path" if endpoint else "virtual"}
    with _loader_lock:
        if not _loaders:
            _loaders.append(botocore.session.Session().get_component("data_loader"))
    # A fresh session per client resolves credentials now (tests and local mode swap them),
    # while the shared loader keeps botocore's parsed service models: a client then costs
    # milliseconds instead of a tenth of a second.
    session = botocore.session.Session()
    session.register_component("data_loader", _loaders[0])
    return boto3.session.Session(botocore_session=session).client(
        service, region_name=settings["AWS_REGION"], endpoint_url=endpoint,
        config=Config(**options))


_loader_lock = threading.Lock()
_loaders: list = []


def build_services(settings: dict) -> Services:
    """Build the storage and job store that `settings` describe."""
    storage = Storage(
        client("s3", settings), settings["UPLOADS_BUCKET"], settings["RESULTS_BUCKET"],
        max_upload_bytes=settings["MAX_UPLOAD_MB"] * 1024 * 1024,
        upload_expires=settings["UPLOAD_EXPIRES_SECONDS"],
        link_expires=settings["LINK_EXPIRES_SECONDS"],
    )
    jobs = JobStore(client("dynamodb", settings), settings["JOBS_TABLE"], settings["JOB_TTL_DAYS"])
    return Services(settings=settings, storage=storage, jobs=jobs)
