"""Settings from the environment, with safe local defaults; refuses an unsafe production config."""

from __future__ import annotations

import os
from collections.abc import Mapping

# Used only in local and test mode; production refuses to start with it.
LOCAL_SECRET_KEY = "thumbs-local-secret-not-for-production"

_TRUE = {"1", "true", "yes", "on"}


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the message says what to set."""


def _flag(value) -> bool:
    return str(value).strip().lower() in _TRUE


def defaults(stage: str) -> dict:
    """Return every setting with its documented default for `stage`."""
    return {
        "STAGE": stage,
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": None,
        "UPLOADS_BUCKET": f"thumbs-{stage}-uploads",
        "RESULTS_BUCKET": f"thumbs-{stage}-results",
        "JOBS_TABLE": f"thumbs-{stage}-jobs",
        "SITE_ORIGIN": None,
        "MAX_UPLOAD_MB": 20,
        "UPLOAD_EXPIRES_SECONDS": 600,
        "TICKET_MAX_AGE_SECONDS": 7 * 24 * 3600,
        "LINK_EXPIRES_SECONDS": 300,
        "JOB_TTL_DAYS": 7,
        "PROCESSING_TIMEOUT_SECONDS": 60,
        "MAX_ATTEMPTS": 3,
        "RENDITIONS": "thumb:256,preview:1024",
        "OUTPUT_FORMAT": "auto",
        "JPEG_QUALITY": 85,
        "BACKGROUND": "#ffffff",
        "MAX_PIXELS": 100_000_000,
        "AWS_MAX_ATTEMPTS": 5,
        "LOCAL_AWS": False,
        "LOCAL_AWS_PORT": 5100,
        # The embedded AWS's worker: "thread" (quick) or "process" (one per event, as Lambda).
        "LOCAL_WORKER": "thread",
        "LOCAL_EVENT_COPIES": 1,
        "LOCAL_FAULTS": False,
        "SECRET_KEY": None,
        "SECRET_KEY_FALLBACKS": [],
        "SECRET_KEY_PARAMETER": None,
        "SESSION_COOKIE_NAME": "thumbs",
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": 30 * 24 * 3600,
        "WTF_CSRF_TIME_LIMIT": None,
    }


_INTS = {
    "MAX_UPLOAD_MB", "UPLOAD_EXPIRES_SECONDS", "TICKET_MAX_AGE_SECONDS", "LINK_EXPIRES_SECONDS",
    "JOB_TTL_DAYS", "PROCESSING_TIMEOUT_SECONDS", "MAX_ATTEMPTS", "JPEG_QUALITY", "MAX_PIXELS",
    "AWS_MAX_ATTEMPTS", "LOCAL_AWS_PORT", "LOCAL_EVENT_COPIES",
}
_FLAGS = {"LOCAL_AWS", "TESTING", "DEBUG", "LOCAL_FAULTS"}


def from_env(environ: Mapping[str, str] | None = None) -> dict:
    """Read the settings from `environ`, falling back to the defaults of its stage."""
    environ = os.environ if environ is None else environ
    settings = defaults(environ.get("STAGE", "local"))
    for name in [*settings, "TESTING", "DEBUG"]:
        if name not in environ:
            continue
        value = environ[name]
        if name in _INTS:
            value = int(value)
        elif name in _FLAGS:
            value = _flag(value)
        elif name == "SECRET_KEY_FALLBACKS":
            value = _key_list(value)
        settings[name] = value
    if "FLASK_DEBUG" in environ:
        settings["DEBUG"] = _flag(environ["FLASK_DEBUG"])
    return settings


def finalize(settings: dict) -> dict:
    """Fill in local defaults, or refuse a production config that is unsafe."""
    relaxed = settings.get("LOCAL_AWS") or settings.get("TESTING")
    if settings.get("TESTING") and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        raise ConfigError("Refusing to start Thumbs: TESTING is set inside AWS Lambda; "
                          "remove it from the function's environment.")
    settings["SECRET_KEY_FALLBACKS"] = _key_list(settings.get("SECRET_KEY_FALLBACKS"))
    if not settings.get("SECRET_KEY") and settings.get("SECRET_KEY_PARAMETER") and not relaxed:
        # The parameter may hold older keys after the newest one: rotation in one place.
        keys = _key_list(_secret_from_parameter_store(settings)) or [None]
        settings["SECRET_KEY"] = keys[0]
        settings["SECRET_KEY_FALLBACKS"] += keys[1:]
    if relaxed:
        settings["SECRET_KEY"] = settings.get("SECRET_KEY") or LOCAL_SECRET_KEY
        return _sign_csrf_with_fallbacks(settings)
    problems = _key_problems(settings)
    if settings.get("DEBUG"):
        problems.append("debug mode is on: unset FLASK_DEBUG (tracebacks would reach visitors)")
    if problems:
        raise ConfigError("Refusing to start Thumbs: " + "; ".join(problems) + ".")
    settings["SESSION_COOKIE_SECURE"] = True
    settings["PREFERRED_URL_SCHEME"] = "https"
    return _sign_csrf_with_fallbacks(settings)


def _key_list(value) -> list[str]:
    """Split "key1,key2" (or take a list) into keys, dropping blanks."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return [item.strip() for item in items if item and item.strip()]


def _key_problems(settings: dict) -> list[str]:
    key = settings.get("SECRET_KEY")
    if not key or key == LOCAL_SECRET_KEY:
        return ["SECRET_KEY is not set: set it to a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))'), or name an SSM "
                "SecureString in SECRET_KEY_PARAMETER; for local development set LOCAL_AWS=1"]
    problems = []
    if len(key) < 32:
        problems.append("SECRET_KEY is too short: use at least 32 random characters")
    # A fallback still verifies signatures, so a weak one is as bad as a weak key.
    if any(old == LOCAL_SECRET_KEY or len(old) < 32 for old in settings["SECRET_KEY_FALLBACKS"]):
        problems.append("SECRET_KEY_FALLBACKS holds a short or local key: keep only real old keys")
    return problems


def _sign_csrf_with_fallbacks(settings: dict) -> dict:
    # Flask-WTF signs CSRF tokens with one key; itsdangerous takes a list (newest last), so
    # a form opened before a key rotation still submits after it.
    if settings["SECRET_KEY_FALLBACKS"] and not settings.get("WTF_CSRF_SECRET_KEY"):
        settings["WTF_CSRF_SECRET_KEY"] = [*settings["SECRET_KEY_FALLBACKS"],
                                           settings["SECRET_KEY"]]
    return settings


def _secret_from_parameter_store(settings: dict) -> str:
    """Return the SecureString named by SECRET_KEY_PARAMETER: "newest key[,older keys]"."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .aws import client  # only production reads Parameter Store, once per app (cold start)

    name = settings["SECRET_KEY_PARAMETER"]
    try:
        response = client("ssm", settings).get_parameter(Name=name, WithDecryption=True)
    except (ClientError, BotoCoreError) as error:
        raise ConfigError(
            f"Refusing to start Thumbs: SECRET_KEY_PARAMETER {name} cannot be read ({error}). "
            f"Create it (aws ssm put-parameter --name {name} --type SecureString --value ...) "
            "in this region, and let this role call ssm:GetParameter on it."
        ) from error
    return response["Parameter"]["Value"]


def renditions(settings: Mapping) -> list[tuple[str, int]]:
    """Parse `RENDITIONS` ("thumb:256,preview:1024") into `(name, max_side)` pairs."""
    specs = []
    for item in str(settings["RENDITIONS"]).split(","):
        name, _, side = item.strip().partition(":")
        specs.append((name, int(side)))
    return specs


def background(settings: Mapping) -> tuple[int, int, int]:
    """Parse `BACKGROUND` ("#rrggbb") into an RGB tuple."""
    value = str(settings["BACKGROUND"]).lstrip("#")
    return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))
