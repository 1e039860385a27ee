"""Thumbs: a server-rendered Flask site that turns uploads into thumbnails, on AWS Lambda."""

from __future__ import annotations

import os

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException

from . import config as config_module

csrf = CSRFProtect()


def create_app(config: dict | None = None) -> Flask:
    """Build the app: settings from the environment, overridden by `config`."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    overrides = dict(config or {})
    # A stage given here names its own buckets and table, as STAGE in the environment does.
    environ = {**os.environ, **({"STAGE": overrides["STAGE"]} if "STAGE" in overrides else {})}
    settings = config_module.from_env(environ)
    settings.update(overrides)
    app.config.update(config_module.finalize(settings))
    if app.config["LOCAL_AWS"]:
        from . import local

        local.start(app.config)
    csrf.init_app(app)

    from . import web

    app.register_blueprint(web.bp)
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(_security_headers)

    from .cli import infra_cli

    app.cli.add_command(infra_cli)
    return app


def _http_error(error: HTTPException):
    if request.path.endswith("/status") or request.accept_mimetypes.best == "application/json":
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
