"""Visitors, their owner tags, and job tickets: what a URL may claim, signed so nobody can edit it.

A visitor id is a random secret that lives only in the visitor's signed cookie. What leaves
the cookie (a job's record, its S3 key, a ticket in a URL) is the visitor's *owner tag*, a
keyed digest of that id: it names the visitor's uploads without revealing the id, and
without the secret key nobody can make the tag of an id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadData, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from .errors import ShareInvalid, TicketExpired, TicketForeign, TicketInvalid

SALT = "thumbs.job-ticket"


def new_visitor_id() -> str:
    """Return a fresh, unguessable visitor id."""
    return secrets.token_urlsafe(16)


def owner_tag(secret_key: str, visitor_id: str) -> str:
    """Return the visitor's owner tag: 128 bits of HMAC-SHA256 of the id, URL-safe."""
    digest = hmac.new(secret_key.encode(), b"thumbs.owner:" + visitor_id.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:16]).decode().rstrip("=")


@dataclass(frozen=True)
class Ticket:
    """What a genuine ticket says: the job, and when its upload form was made."""

    job_id: str
    issued_at: float


class Tickets:
    """Issue and check job tickets: `{job id, owner tag}`, signed and timed."""

    def __init__(self, secret_key: str, fallbacks=(), max_age: int = 7 * 24 * 3600):
        # itsdangerous signs with the last key and accepts any of them: rotation.
        self._serializer = URLSafeTimedSerializer([*fallbacks, secret_key], salt=SALT)
        self._max_age = max_age

    def issue(self, job_id: str, owner: str) -> str:
        """Return a ticket for `job_id`, usable by the visitor whose tag is `owner` only."""
        return self._serializer.dumps({"j": job_id, "o": owner})

    def read(self, ticket: str, owner: str | None) -> Ticket:
        """Return what `ticket` says, if it is genuine, fresh and `owner`'s."""
        try:
            payload, issued = self._serializer.loads(
                ticket, max_age=self._max_age, return_timestamp=True
            )
        except SignatureExpired as error:
            raise TicketExpired() from error
        except BadData as error:
            raise TicketInvalid() from error
        if not isinstance(payload, dict) or not isinstance(payload.get("j"), str):
            raise TicketInvalid()
        tagged = str(payload.get("o")).encode()
        if not owner or not secrets.compare_digest(tagged, owner.encode()):
            raise TicketForeign()
        return Ticket(payload["j"], issued.timestamp())


class Cursors:
    """Where a history page starts, signed so a URL cannot steer the query."""

    SALT = "thumbs.history-cursor"

    def __init__(self, secret_key: str, fallbacks=()):
        self._serializer = URLSafeSerializer([*fallbacks, secret_key], salt=self.SALT)

    def make(self, after: dict | None) -> str | None:
        """Return a token for where the next page starts (None for none)."""
        return self._serializer.dumps([after["created_at"], after["job_id"]]) if after else None

    def read(self, token: str | None) -> dict | None:
        """Return where a page starts; None (the first page) if the token is not genuine."""
        if not token:
            return None
        try:
            created_at, job_id = self._serializer.loads(token)
        except (BadData, TypeError, ValueError):
            return None
        if not isinstance(created_at, int | float) or not isinstance(job_id, str):
            return None
        return {"created_at": created_at, "job_id": job_id}


@dataclass(frozen=True)
class SharedLink:
    """What a genuine share link says: the job, and the share id it was made for."""

    job_id: str
    share_id: str


class ShareLinks:
    """Read-only links to a job's images: `{job id, share id}`, signed for that one purpose.

    They carry no owner tag, and no maximum age: a link works while its job exists and its
    share id is the one on the record (turning sharing off and on makes a new one).
    """

    SALT = "thumbs.share-link"

    def __init__(self, secret_key: str, fallbacks=()):
        self._serializer = URLSafeSerializer([*fallbacks, secret_key], salt=self.SALT)

    @staticmethod
    def new_id() -> str:
        """Return a fresh share id (unguessable, so an old link never comes back to life)."""
        return secrets.token_urlsafe(12)

    def make(self, job_id: str, share_id: str) -> str:
        """Return the token of a share link."""
        return self._serializer.dumps({"j": job_id, "s": share_id})

    def read(self, token: str) -> SharedLink:
        """Return what a share link's token says, if this site signed it for sharing."""
        try:
            payload = self._serializer.loads(token)
        except BadData as error:
            raise ShareInvalid() from error
        if not isinstance(payload, dict) or not all(
            isinstance(payload.get(key), str) for key in ("j", "s")
        ):
            raise ShareInvalid()
        return SharedLink(payload["j"], payload["s"])

    @staticmethod
    def matches(link: SharedLink, share_id: str | None) -> bool:
        """Whether `link` is the job's current share link (constant time)."""
        return bool(share_id) and secrets.compare_digest(link.share_id.encode(), share_id.encode())
