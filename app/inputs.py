"""What the site takes of a request before any view reads it: a Host on one of its origins,
port included, a small body, and JSON nested no deeper than its own needs.

Each refusal is a 4xx with a message: a Host the site does not serve (its links would carry
that host or port), a body too large (413), JSON nested too deeply (a RecursionError would
otherwise reach the visitor as a 500).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import SecurityError

from .errors import BadRequest
from .services import current_settings

# Nothing the site reads nests deeper than 2 ({"count": 2}); a session's cookie, 3.
MAX_JSON_DEPTH = 10
# The site receives forms (a CSRF token) and small JSON; files go straight to S3.
MAX_BODY_BYTES = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


class NestedTooDeeply(BadRequest):
    """JSON nested deeper than anything the site reads."""

    message = f"This JSON is nested too deeply: the site reads at most {MAX_JSON_DEPTH} levels."


class BoundedJSON(DefaultJSONProvider):
    """Flask's JSON, refusing documents nested deeper than MAX_JSON_DEPTH."""

    def loads(self, s, **kwargs):
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise NestedTooDeeply() from None
        if depth(value) > MAX_JSON_DEPTH:
            raise NestedTooDeeply()
        return value


def init_app(app: Flask) -> None:
    """Bound what `app` accepts: its JSON, its bodies, and the host and port it answers on."""
    app.json = BoundedJSON(app)
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.before_request(check_host)


def depth(value) -> int:
    """Return how deeply lists and objects nest in `value` (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def check_host() -> None:
    """Refuse a Host that is not one of SITE_ORIGIN's, port included (none: the scheme's own).

    Flask's TRUSTED_HOSTS compares host names only, and absolute URLs (the upload's signed
    redirect, a share link) are built from the Host as sent, port and all.
    """
    origins = current_settings().site_origin
    if not origins:
        return
    # `Host: thumbs.example.org:443` on https is the same origin as no port at all.
    asked = _host_and_port(f"{request.scheme}://{request.host}")
    if asked not in {_host_and_port(o) for o in origins}:
        raise SecurityError("Unknown host or port.")


def _host_and_port(origin: str) -> str:
    """Return an origin's host as Werkzeug reports a request's: no port if the default."""
    parts = urlsplit(origin.lower())
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: no origin of ours
        return "?"
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme):
        return parts.hostname or ""
    return f"{parts.hostname}:{port}"
