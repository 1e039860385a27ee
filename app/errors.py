"""Every error a person can meet, and the one place that answers them: a page or JSON.

`ShownError` is the base of the errors a person is shown, each with its status, title and a
message they can act on. Views and domain modules raise them; `init_app` answers them (and
Flask's own HTTP errors, CSRF refusals and AWS outages) in one shape, chosen by one rule,
`wants_json_response()`.
"""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, SecurityError

from . import logs

logger = logging.getLogger(__name__)


class ShownError(Exception):
    """An error shown to a person: an HTTP status, a title, and what to do about it."""

    status = 500
    title = "Something went wrong"
    message = "Something went wrong on our side. Please try again in a moment."
    headers: dict[str, str] = {}

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        if message:
            self.message = message


class BadRequest(ShownError):
    """The request is malformed; the message says what was expected."""

    status = 400
    title = "Bad request"
    message = "This request could not be understood."


class NotFound(ShownError):
    """Nothing of this site lives at this address."""

    status = 404
    title = "Not found"
    message = "There is nothing at this address."


class FormExpired(BadRequest):
    """A form or script without a valid CSRF token: most often a page left open too long."""

    title = "Page expired"
    message = "This page has expired. Reload it and try again."


class TicketInvalid(ShownError):
    """A link to an upload that this site did not make (tampered, truncated, another key)."""

    status = 404
    title = "Link not valid"
    message = "This link is not valid. Check that it was copied in full."


class TicketExpired(TicketInvalid):
    """A genuine link, older than its maximum age."""

    status = 403
    title = "Link expired"
    message = "This link has expired. Upload the image again to get a new one."


class TicketForeign(TicketInvalid):
    """A genuine link to another visitor's upload."""

    status = 403
    title = "Not your upload"
    message = (
        "This link belongs to someone else's upload. Links to uploads only work in the "
        "browser that made them."
    )


class JobGone(ShownError):
    """A genuine link whose upload was deleted or has expired."""

    status = 404
    title = "Upload not found"
    message = "This upload no longer exists. It may have been deleted, or it expired."


class ShareInvalid(ShownError):
    """A share link that does not (or no longer) lead to images."""

    status = 404
    title = "Shared link not found"
    message = (
        "This shared link does not work: its owner turned it off, the upload was deleted or "
        "expired, or the link was not copied in full."
    )


class Unavailable(ShownError):
    """AWS kept failing after botocore's retries."""

    status = 503
    title = "Busy for a moment"
    message = "Thumbs cannot reach its storage right now. Please try again in a minute."
    headers = {"Retry-After": "30"}


def wants_json_response() -> bool:
    """Answer JSON to clients that prefer it to HTML (scripts), and pages to browsers."""
    accept = request.accept_mimetypes
    return accept["application/json"] >= accept["text/html"]


def respond(error: ShownError):
    """Return the page, or the JSON, that tells a person about `error`."""
    return _answer(error.status, type(error).__name__, error.title, error.message, error.headers)


def init_app(app: Flask) -> None:
    """Answer every error of `app` through `respond`."""
    app.register_error_handler(ShownError, respond)
    app.register_error_handler(CSRFError, lambda error: respond(FormExpired()))
    app.register_error_handler(ClientError, _aws_unavailable)
    app.register_error_handler(BotoCoreError, _aws_unavailable)
    app.register_error_handler(HTTPException, _http_error)
    app.log_exception = _log_unhandled


def _log_unhandled(exc_info) -> None:
    """Log an error no handler took as one line naming its endpoint: Flask's own line names
    the path, which holds a ticket or a share token."""
    logs.event(
        logger,
        "unhandled_error",
        logging.ERROR,
        exc_info=exc_info,
        endpoint=request.endpoint,
        method=request.method,
        job_id=g.get("job_id"),
    )


def _aws_unavailable(error: Exception):
    logs.event(
        logger,
        "aws_unavailable",
        logging.ERROR,
        exc_info=error,
        job_id=g.get("job_id"),
        endpoint=request.endpoint,
    )
    return respond(Unavailable())


def _http_error(error: HTTPException):
    if isinstance(error, SecurityError):
        # A Host we do not serve: no page (its links would be built on that host).
        return "Unknown host.", 400, {"Content-Type": "text/plain; charset=utf-8"}
    return _answer(error.code, error.name, error.name, error.description, {})


def _answer(status: int, name: str, title: str, message: str, headers: dict):
    if wants_json_response():
        return jsonify(error=name, message=message), status, headers
    page = render_template("error.html", status=status, title=title, message=message)
    return page, status, headers
