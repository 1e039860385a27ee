"""Settings: one frozen, typed object, built once from the environment.

Every setting is a field of `Settings`; its environment variable is its name in capitals
(`max_upload_mb` is `MAX_UPLOAD_MB`), and its type says how the variable is read. Production
refuses to start with an unsafe configuration and says what to set.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Used only in local and test mode; production refuses to start with it.
LOCAL_SECRET_KEY = "thumbs-local-secret-not-for-production"
_TRUE = {"1", "true", "yes", "on"}
SERVED_BY = ("api_gateway", "function_url")  # the ways in a stage may have


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the message says what to set."""


@dataclass(frozen=True)
class Settings:
    """Everything Thumbs reads from its environment, with the documented defaults."""

    stage: str = "local"
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    # Empty: named after the stage (thumbs-<stage>-uploads, -results, -jobs).
    uploads_bucket: str = ""
    results_bucket: str = ""
    jobs_table: str = ""
    # Empty: thumbs-<stage>, Zappa's name for the stage's function (AWS_LAMBDA_FUNCTION_NAME
    # inside Lambda). The reconciler and Try again invoke it.
    function_name: str = ""
    # The site's origins ("https://host", comma-separated): CORS rules and trusted hosts.
    site_origin: tuple[str, ...] = ()
    # What brings the site its requests in AWS: "api_gateway" (a REST API) or "function_url".
    # The function's entry point serves that one kind of HTTP event and refuses the other.
    served_by: str = "api_gateway"
    max_upload_mb: int = 20
    upload_expires_seconds: int = 600
    ticket_max_age_seconds: int = 7 * 24 * 3600
    link_expires_seconds: int = 300
    job_ttl_days: int = 7
    processing_timeout_seconds: int = 60
    # An upload not taken up this long after it arrived is shown as delayed, and the
    # reconciler starts it.
    delayed_after_seconds: int = 60
    # An upload recorded but not taken up this long while its page watches is started by
    # the status route itself (app/starts.py): a lost event costs a watching visitor seconds.
    watched_start_after_seconds: int = 5
    # How long CloudWatch keeps the function's logs (flask infra up sets it on each group).
    log_retention_days: int = 30
    max_attempts: int = 3
    # A status request may wait this long for the job to move on (a long poll): well under
    # API Gateway's 29 s and the function's timeout. 0: answer at once, always.
    status_wait_seconds: int = 10
    # name:longest side[:quality]. The preview, about nine tenths of what a job sends and
    # shown scaled down, at 75 (libjpeg's own default): about a quarter fewer bytes than at
    # 85 (bench/cost.md prices each, with its SSIM); the thumbnail at JPEG_QUALITY.
    renditions: tuple[str, ...] = ("thumb:256", "preview:1024:75")
    output_format: str = "auto"
    jpeg_quality: int = 85
    background: str = "#ffffff"
    max_pixels: int = 100_000_000
    # Frames × width × height an animation may have and still move (imaging_output.py says
    # why this much); beyond it, its first frame is shown and the person is told.
    max_animation_pixels: int = 50_000_000
    aws_max_attempts: int = 5
    # API Gateway's throttling of the stage (flask infra up sets it after zappa deploy): the
    # ceiling on what a flood of requests can cost.
    api_rate_limit: int = 50
    api_burst_limit: int = 100
    # An SNS topic the stage's alarms notify (flask infra up makes the alarms).
    alarm_topic_arn: str | None = None
    # The account's estimated charges for the month, in US dollars, over which flask infra up's
    # billing alarm fires. 0: flask infra up neither makes nor changes one.
    billing_alarm_usd: int = 0
    secret_key: str | None = field(default=None, repr=False)
    secret_key_fallbacks: tuple[str, ...] = field(default=(), repr=False)
    secret_key_parameter: str | None = None
    # On the embedded AWS (local development): no secret needed, local origins allowed.
    local_aws: bool = False
    testing: bool = False
    debug: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, object] | None = None) -> Settings:
        """Read every setting from `environ` (default: the process's), typed."""
        environ = os.environ if environ is None else environ
        values = read_fields(cls, environ)
        if "function_name" not in values and environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            values["function_name"] = str(environ["AWS_LAMBDA_FUNCTION_NAME"])
        if "FLASK_DEBUG" in environ and "DEBUG" not in environ:
            values["debug"] = _parse(environ["FLASK_DEBUG"], bool)
        return cls(**values)

    def __post_init__(self):
        for kind, name in stage_names(self.stage).items():
            if not getattr(self, kind):
                object.__setattr__(self, kind, name)
        # "https://host/" and "https://host" are one origin.
        object.__setattr__(self, "site_origin", tuple(o.rstrip("/") for o in self.site_origin))
        if self.billing_alarm_usd < 0:
            raise ConfigError(
                f"BILLING_ALARM_USD is {self.billing_alarm_usd}: give the month's charges in "
                "US dollars over which to be told, or 0 for no billing alarm."
            )
        try:
            qualities = self.rendition_qualities
        except ValueError:
            qualities = None
        if not qualities or not all(1 <= q <= 100 for q in qualities.values()):
            raise ConfigError(
                f"RENDITIONS is {','.join(self.renditions)!r}: give each as name:longest side"
                "[:quality from 1 to 100], such as thumb:256,preview:1024:75."
            )
        if self.served_by not in SERVED_BY:
            # Else the entry point would refuse every request, each as the other kind's.
            raise ConfigError(
                f"SERVED_BY is {self.served_by!r}: set it to {' or '.join(SERVED_BY)}."
            )

    def for_stage(self, stage: str) -> Settings:
        """Return these settings for another stage: its own buckets, table and secret."""
        if stage == self.stage:
            return self
        return dataclasses.replace(
            self, stage=stage, secret_key_parameter=secret_parameter(stage), **stage_names(stage)
        )

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    def environ(self) -> dict[str, str]:
        """Return these settings as environment variables (secrets left out), for a worker."""
        return {
            item.name.upper(): _unparse(getattr(self, item.name))
            for item in dataclasses.fields(self)
            if item.repr and getattr(self, item.name) is not None
        }

    @property
    def relaxed(self) -> bool:
        """Local development or tests: no real secret needed, no HTTPS."""
        return self.local_aws or self.testing

    @property
    def failed_events_queue(self) -> str:
        """The SQS queue where Lambda keeps the events the worker failed on for good."""
        return f"thumbs-{self.stage}-failed-events"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def rendition_specs(self) -> list[tuple[str, int]]:
        """Parse `renditions` ("thumb:256", ...) into `(name, max_side)` pairs."""
        return [(name, side) for name, side, _ in self._renditions()]

    @property
    def rendition_qualities(self) -> dict[int, int]:
        """Return the quality of each rendition's longest side: its own ("preview:1024:75"),
        or else `jpeg_quality`."""
        return {
            side: self.jpeg_quality if quality is None else quality
            for _, side, quality in self._renditions()
        }

    def _renditions(self) -> list[tuple[str, int, int | None]]:
        parsed = []
        for item in self.renditions:
            name, side, *quality = item.split(":")
            if len(quality) > 1:
                raise ValueError(f"{item!r} has more than name, side and quality")
            parsed.append((name, int(side), int(quality[0]) if quality else None))
        return parsed

    @property
    def background_rgb(self) -> tuple[int, int, int]:
        """Parse `background` ("#rrggbb") into an RGB tuple."""
        value = self.background.lstrip("#")
        return tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))

    @property
    def site_hosts(self) -> list[str]:
        return [urlsplit(origin).hostname for origin in self.site_origin]

    def flask_config(self) -> dict:
        """Return what Flask and its extensions read from `app.config`."""
        secure = not self.relaxed
        config = {
            "SECRET_KEY": self.secret_key,
            "SECRET_KEY_FALLBACKS": list(self.secret_key_fallbacks),
            "SESSION_COOKIE_NAME": "thumbs",
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SECURE": secure,
            "PERMANENT_SESSION_LIFETIME": 30 * 24 * 3600,
            "TESTING": self.testing,
            "DEBUG": self.debug,
            # Pages send no Referer (Referrer-Policy: no-referrer keeps presigned links
            # private), so Flask-WTF's HTTPS referrer check would refuse every form; the
            # token and the SameSite cookie carry the protection.
            "WTF_CSRF_SSL_STRICT": False,
            "WTF_CSRF_TIME_LIMIT": None,
            # Static files are named by their content, so browsers keep them a year: each
            # request they spare is a Lambda invocation spared.
            "SEND_FILE_MAX_AGE_DEFAULT": 365 * 24 * 3600,
        }
        if self.secret_key_fallbacks:
            # Flask-WTF signs CSRF tokens with one key; itsdangerous takes a list (newest
            # last), so a form opened before a key rotation still submits after it.
            config["WTF_CSRF_SECRET_KEY"] = [*self.secret_key_fallbacks, self.secret_key]
        if self.site_origin:
            # Absolute URLs (the upload's redirect) are built from Host: accept only ours.
            config["TRUSTED_HOSTS"] = self.site_hosts
        if secure:
            config["PREFERRED_URL_SCHEME"] = "https"
        return config


def read_fields(cls, environ: Mapping[str, object]) -> dict:
    """Return the fields of dataclass `cls` that `environ` sets (NAME for `name`), typed."""
    kinds = typing.get_type_hints(cls)
    values = {}
    for item in dataclasses.fields(cls):
        value = environ.get(item.name.upper())
        if value is not None:
            values[item.name] = _parse(value, kinds[item.name])
    return values


def names(cls=None) -> set[str]:
    """Return the environment variables a settings class reads."""
    return {item.name.upper() for item in dataclasses.fields(cls or Settings)}


def stage_names(stage: str) -> dict[str, str]:
    """Return the names of a stage's buckets, table and function."""
    return {
        "uploads_bucket": f"thumbs-{stage}-uploads",
        "results_bucket": f"thumbs-{stage}-results",
        "jobs_table": f"thumbs-{stage}-jobs",
        "function_name": f"thumbs-{stage}",
    }


def secret_parameter(stage: str) -> str:
    """Return the SSM parameter that holds a stage's SECRET_KEY, by convention."""
    return f"/thumbs/{stage}/secret-key"


def load(
    overrides: Mapping[str, object] | None = None,
    environ: Mapping[str, object] | None = None,
    read_parameter: Callable[[Settings], str] | None = None,
) -> Settings:
    """Return the settings of `environ` with `overrides` (by variable name), checked.

    Production (neither local nor testing) reads the key from Parameter Store when it is not
    given, and refuses to start with a missing or weak key, with debug on, or with no
    SITE_ORIGIN.
    """
    environ = os.environ if environ is None else environ
    settings = Settings.from_env({**environ, **(overrides or {})})
    if settings.testing and environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        raise ConfigError(
            "Refusing to start Thumbs: TESTING is set inside AWS Lambda; "
            "remove it from the function's environment."
        )
    if settings.relaxed:
        return settings.replace(secret_key=settings.secret_key or LOCAL_SECRET_KEY)
    if not settings.secret_key and settings.secret_key_parameter:
        # The parameter may hold older keys after the newest one: rotation in one place.
        keys = _split((read_parameter or _read_parameter)(settings)) or (None,)
        settings = settings.replace(
            secret_key=keys[0], secret_key_fallbacks=settings.secret_key_fallbacks + keys[1:]
        )
    problems = _problems(settings)
    if problems:
        raise ConfigError("Refusing to start Thumbs: " + "; ".join(problems) + ".")
    return settings


def _problems(settings: Settings) -> list[str]:
    key = settings.secret_key
    if not key or key == LOCAL_SECRET_KEY:
        return [
            "SECRET_KEY is not set: set it to a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(48))'), or name an SSM "
            "SecureString in SECRET_KEY_PARAMETER; for local development run make run"
        ]
    problems = []
    if len(key) < 32:
        problems.append("SECRET_KEY is too short: use at least 32 random characters")
    # A fallback still verifies signatures, so a weak one is as bad as a weak key.
    if any(old == LOCAL_SECRET_KEY or len(old) < 32 for old in settings.secret_key_fallbacks):
        problems.append("SECRET_KEY_FALLBACKS holds a short or local key: keep only real old keys")
    if settings.debug:
        problems.append("debug mode is on: unset FLASK_DEBUG (tracebacks would reach visitors)")
    if not settings.site_origin:
        # Without it, absolute URLs (the upload's signed redirect) come from the Host header,
        # which anyone can set.
        problems.append(
            "SITE_ORIGIN is not set: set it to the site's origin, https://HOST (the URL that "
            "zappa deploy and zappa status print, without its stage path, or your domain); on "
            "a first deploy, deploy, read the URL, set SITE_ORIGIN, then zappa update"
        )
    return problems


def _read_parameter(settings: Settings) -> str:
    """Return the SecureString named by SECRET_KEY_PARAMETER: "newest key[,older keys]"."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .services import client  # only production reads Parameter Store, once per cold start

    name = settings.secret_key_parameter
    try:
        response = client("ssm", settings).get_parameter(Name=name, WithDecryption=True)
    except (ClientError, BotoCoreError) as error:
        raise ConfigError(
            f"Refusing to start Thumbs: SECRET_KEY_PARAMETER {name} cannot be read ({error}). "
            f"Create it (aws ssm put-parameter --name {name} --type SecureString --value ...) "
            "in this region, and let this role call ssm:GetParameter on it."
        ) from error
    return response["Parameter"]["Value"]


def _split(value) -> tuple[str, ...]:
    """Split "a,b" (or take a list) into its non-blank items, stripped."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    return tuple(item.strip() for item in items if item and str(item).strip())


def _parse(value, kind):
    """Read an environment value (or a typed value a test gives) as `kind`."""
    if kind is bool:
        return value if isinstance(value, bool) else str(value).strip().lower() in _TRUE
    if kind in (int, float):
        return kind(value)
    if kind == tuple[str, ...]:
        return _split(value)
    return None if value == "" and kind == str | None else str(value)


def _unparse(value) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
