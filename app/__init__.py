"""Thumbs: a server-rendered Flask site that turns uploads into thumbnails, on AWS Lambda."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, current_app, jsonify, render_template, request, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException, SecurityError

from . import config as config_module
from . import logs

csrf = CSRFProtect()


def create_app(config: dict | None = None) -> Flask:
    """Build the app: settings from the environment, overridden by `config`."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    overrides = dict(config or {})
    # A stage given here names its own buckets and table, as STAGE in the environment does.
    environ = {**os.environ, **({"STAGE": overrides["STAGE"]} if "STAGE" in overrides else {})}
    settings = config_module.from_env(environ)
    settings.update(overrides)
    # Pages send no Referer (Referrer-Policy: no-referrer keeps presigned links private), so
    # Flask-WTF's HTTPS referrer check would refuse every form; the token and the SameSite
    # cookie carry the protection.
    settings.setdefault("WTF_CSRF_SSL_STRICT", False)
    # Static files are named by their content (see asset_url), so browsers keep them a year:
    # each request they spare is a Lambda invocation spared.
    settings.setdefault("SEND_FILE_MAX_AGE_DEFAULT", 365 * 24 * 3600)
    app.config.update(config_module.finalize(settings))
    if app.config.get("SITE_ORIGIN") and "TRUSTED_HOSTS" not in overrides:
        # Absolute URLs (the upload's redirect) are built from Host: accept only our own.
        app.config["TRUSTED_HOSTS"] = [
            urlsplit(origin.strip()).hostname for origin in app.config["SITE_ORIGIN"].split(",")]
    logs.setup()
    if app.config["LOCAL_AWS"]:
        from . import local

        local.start(app.config)
    csrf.init_app(app)
    app.add_template_global(_asset_urls(app), "asset_url")
    app.add_template_filter(_isotime, "isotime")

    from . import web

    app.register_blueprint(web.bp)
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(_security_headers)

    from .cli import infra_cli

    app.cli.add_command(infra_cli)
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
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.strftime("%d %b %Y, %H:%M UTC") if human else moment.isoformat(timespec="seconds")


def _http_error(error: HTTPException):
    if isinstance(error, SecurityError):
        # A Host we do not serve: no page (its links would be built on that host).
        return "Unknown host.", 400, {"Content-Type": "text/plain; charset=utf-8"}
    if (request.path.endswith("/status") or request.is_json
            or request.accept_mimetypes.best == "application/json"):
        return jsonify(error=error.name, message=error.description), error.code
    return render_template("error.html", status=error.code, title=error.name,
                           message=error.description), error.code


def _content_security_policy() -> str:
    from .web import services

    cached = current_app.extensions.get("thumbs.csp")
    if cached is None:
        s3 = " ".join(sorted(services().storage.origins()))
        cached = "; ".join([
            "default-src 'none'", "script-src 'self'", "style-src 'self'",
            f"img-src 'self' data: {s3}", f"connect-src 'self' {s3}",
            f"form-action 'self' {s3}", "frame-ancestors 'none'", "base-uri 'none'",
        ])
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
