"""The app's outside systems: boto3 clients with one retry policy, and the services built on them.

Like flaskr's `get_db()`: views call `get_services()`, the worker calls `services_for(settings)`;
both get the one set of clients this process keeps for those settings. Clients only, never
data: a later request may run on another instance.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

from .config import Settings
from .events import Conversions
from .jobs import JobStore
from .storage import Storage

_EXTENSION = "thumbs"


@dataclass(frozen=True)
class Services:
    """What a request or an event needs: the settings, and AWS through small classes."""

    settings: Settings
    storage: Storage
    jobs: JobStore
    conversions: Conversions


def init_app(app, settings: Settings) -> None:
    """Give `app` its settings; its services are built on first use."""
    app.extensions[_EXTENSION] = settings


def current_settings() -> Settings:
    """Return the settings of the app handling this request."""
    from flask import current_app  # the worker, which has no app, never imports Flask

    return current_app.extensions[_EXTENSION]


def get_services() -> Services:
    """Return the services of the app handling this request."""
    return services_for(current_settings())


def services_for(settings: Settings) -> Services:
    """Return the services `settings` describe: built once per process and settings."""
    with _lock:
        if settings not in _built:
            _built[settings] = _build(settings)
        return _built[settings]


def forget() -> None:
    """Drop every client this process keeps, and the session that made them (a test that
    swaps how clients are made; an instance restored from a snapshot)."""
    with _lock, _session_lock:
        _built.clear()
        _sessions.clear()
        _accounts.clear()


def account_id(settings: Settings) -> str:
    """Return the id of the account the credentials belong to: asked of STS once per process
    (no permission needed), when a call on the buckets first needs it, never by a page that
    makes none."""
    credentials = tuple(os.environ.get(name) for name in _CREDENTIAL_VARIABLES)
    known = (credentials, settings.aws_endpoint_url)
    if known not in _accounts:  # two threads may both ask: the answer is the same
        _accounts[known] = client("sts", settings).get_caller_identity()["Account"]
    return _accounts[known]


def client(service: str, settings: Settings):
    """Return a new boto3 client for `service`, with botocore's standard retries and backoff."""
    endpoint = settings.aws_endpoint_url
    options = {
        "retries": {"mode": "standard", "total_max_attempts": settings.aws_max_attempts},
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    if service == "s3":
        options["signature_version"] = "s3v4"
        # A localhost endpoint has no bucket subdomains; AWS prefers virtual hosts.
        options["s3"] = {"addressing_style": "path" if endpoint else "virtual"}
    # One loader per process keeps botocore's parsed models and endpoint data, so a client
    # costs milliseconds, not a tenth of a second; one session per set of credentials in the
    # environment (Lambda's never change within an instance) resolves them once.
    credentials = tuple(os.environ.get(name) for name in _CREDENTIAL_VARIABLES)
    with _session_lock:
        if credentials not in _sessions:
            if not _loaders:
                _loaders.append(botocore.loaders.create_loader())
            session = botocore.session.Session()
            session.register_component("data_loader", _loaders[0])
            _sessions[credentials] = boto3.session.Session(botocore_session=session)
        return _sessions[credentials].client(
            service,
            region_name=settings.aws_region,
            endpoint_url=endpoint,
            config=Config(**options),
        )


class LazyClient:
    """A client built when first used: a request that makes none of its calls never pays for
    building it (the upload page, for one, needs no DynamoDB)."""

    def __init__(self, service: str, settings: Settings):
        self._service, self._settings, self._client = service, settings, None

    def __getattr__(self, name: str):
        if self._client is None:
            self._client = client(self._service, self._settings)
        return getattr(self._client, name)


def _build(settings: Settings) -> Services:
    storage = Storage(
        client("s3", settings),
        settings.uploads_bucket,
        settings.results_bucket,
        max_upload_bytes=settings.max_upload_bytes,
        upload_expires=settings.upload_expires_seconds,
        link_expires=settings.link_expires_seconds,
        # Every call on the buckets names their owner: S3 refuses it if another account
        # holds a bucket of that name (bucket names are global).
        bucket_owner=lambda: account_id(settings),
    )
    jobs = JobStore(LazyClient("dynamodb", settings), settings.jobs_table, settings.job_ttl_days)
    # Only the reconciler, Try again and a replay invoke: a page never builds this client.
    conversions = Conversions(
        LazyClient("lambda", settings), settings.function_name, settings.aws_region
    )
    return Services(settings, storage, jobs, conversions)


_lock = threading.Lock()
_session_lock = threading.Lock()
_sessions: dict[tuple, boto3.session.Session] = {}
_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
_loaders: list = []
_built: dict[Settings, Services] = {}
_accounts: dict[tuple, str] = {}
