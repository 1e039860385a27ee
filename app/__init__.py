"""Thumbs: a server-rendered Flask site that turns uploads into thumbnails, on AWS Lambda."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, current_app, request, url_for
from flask_wtf.csrf import CSRFProtect

from . import coldstart, config, errors, inputs, logs, services

csrf = CSRFProtect()


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app from the environment's settings, with `overrides` (by variable name).

    Names that are not settings (PROPAGATE_EXCEPTIONS, say) go to Flask's config as given.
    It starts nothing: the embedded AWS for development is started by its own entry points.
    """
    overrides = dict(overrides or {})
    settings = config.load(overrides)
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.update(settings.flask_config())
    app.config.update({k: v for k, v in overrides.items() if k not in config.names()})
    logs.setup()
    services.init_app(app, settings)
    errors.init_app(app)
    inputs.init_app(app)
    csrf.init_app(app)
    app.add_template_global(_asset_urls(app), "asset_url")
    app.add_template_filter(_isotime, "isotime")

    from . import web

    app.register_blueprint(web.bp)
    app.after_request(_security_headers)

    from .cli import infra_cli, jobs_cli

    app.cli.add_command(infra_cli)
    app.cli.add_command(jobs_cli)
    coldstart.init_app(app)
    return app


def _asset_urls(app: Flask):
    """Return `asset_url(filename)`: a static URL that changes when the file does."""
    versions = {}
    for path in Path(app.static_folder).iterdir():
        if path.is_file():
            versions[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]

    def asset_url(filename: str) -> str:
        return url_for("static", filename=filename, v=versions.get(filename))

    return asset_url


def _isotime(timestamp: float, human: bool = False) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%d %b %Y, %H:%M UTC") if human else moment.isoformat(timespec="seconds")


def _content_security_policy() -> str:
    cached = current_app.extensions.get("thumbs.csp")
    if cached is None:
        s3 = " ".join(sorted(services.get_services().storage.origins()))
        cached = "; ".join(
            [
                "default-src 'none'",
                "script-src 'self'",
                "style-src 'self'",
                f"img-src 'self' data: {s3}",
                f"connect-src 'self' {s3}",
                f"form-action 'self' {s3}",
                "frame-ancestors 'none'",
                "base-uri 'none'",
            ]
        )
        current_app.extensions["thumbs.csp"] = cached
    return cached


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", _content_security_policy())
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if request.endpoint != "static":
        # Pages carry tickets and presigned links: never store them in a shared cache.
        headers.setdefault("Cache-Control", "no-store")
    return response
