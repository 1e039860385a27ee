"""Visitor ids and job tickets: what a URL may claim, signed so nobody can edit it."""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from .errors import TicketExpired, TicketForeign, TicketInvalid

SALT = "thumbs.job-ticket"


def new_visitor_id() -> str:
    """Return a fresh, unguessable visitor id."""
    return secrets.token_urlsafe(16)


class Tickets:
    """Issue and check job tickets: `{job id, visitor id}`, signed and timed."""

    def __init__(self, secret_key: str, fallbacks=(), max_age: int = 7 * 24 * 3600):
        # itsdangerous signs with the last key and accepts any of them: rotation.
        self._serializer = URLSafeTimedSerializer([*fallbacks, secret_key], salt=SALT)
        self._max_age = max_age

    def issue(self, job_id: str, visitor_id: str) -> str:
        """Return a ticket for `job_id`, usable by `visitor_id` only."""
        return self._serializer.dumps({"j": job_id, "v": visitor_id})

    def job_id(self, ticket: str, visitor_id: str | None) -> str:
        """Return the job id `ticket` names, if it is genuine, fresh and `visitor_id`'s."""
        try:
            payload = self._serializer.loads(ticket, max_age=self._max_age)
        except SignatureExpired as error:
            raise TicketExpired() from error
        except BadSignature as error:
            raise TicketInvalid() from error
        if not isinstance(payload, dict) or not isinstance(payload.get("j"), str):
            raise TicketInvalid()
        owner = str(payload.get("v")).encode()
        if not visitor_id or not secrets.compare_digest(owner, visitor_id.encode()):
            raise TicketForeign()
        return payload["j"]


class Cursors:
    """Where a history page starts, signed so a URL cannot steer the query."""

    SALT = "thumbs.history-cursor"

    def __init__(self, secret_key: str, fallbacks=()):
        self._serializer = URLSafeSerializer([*fallbacks, secret_key], salt=self.SALT)

    def make(self, key: dict | None) -> str | None:
        """Return a token for a DynamoDB start key (None for none)."""
        return self._serializer.dumps(key) if key else None

    def read(self, token: str | None) -> dict | None:
        """Return the start key a token carries; None (the first page) if it is not genuine."""
        if not token:
            return None
        try:
            key = self._serializer.loads(token)
        except BadSignature:
            return None
        return key if isinstance(key, dict) else None
