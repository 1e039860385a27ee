"""Create, check and remove what a stage needs in AWS; every step is idempotent.

`flask infra up` runs before `zappa deploy` (the S3 trigger needs the uploads bucket, and a
deploy of a built package needs the role) and again after each deploy and update (the
function's settings that Zappa has no setting for, and its one S3 invoke permission).
"""

from __future__ import annotations

from ..config import Settings
from . import alarms, buckets, function, limits, log_groups, permission, role, table
from .base import Clients, Difference, InfraError
from .buckets import bucket_setup, site_origins

__all__ = [
    "Clients",
    "Difference",
    "InfraError",
    "bucket_setup",
    "check",
    "down",
    "site_origins",
    "up",
]

PARTS = (buckets, table, role, function, permission, limits, log_groups, alarms)


def up(settings: Settings, clients: Clients | None = None, log=print) -> None:
    """Create what is missing and put right what differs; raise what needs a person."""
    clients = clients or Clients(settings)
    manual = [problem for part in PARTS for problem in part.up(settings, clients, log)]
    if manual:
        raise InfraError("Fix by hand: " + "; ".join(manual))


def check(settings: Settings, clients: Clients | None = None) -> list[str]:
    """Return what differs from the expected setup, one sentence each (empty: all is well)."""
    clients = clients or Clients(settings)
    problems = []
    if not site_origins(settings):
        problems.append(
            "SITE_ORIGIN is not set, so no page may upload by script: set it to "
            "the site's origin (https://host), then run flask infra up"
        )
    return problems + [problem for part in PARTS for problem in part.check(settings, clients)]


def down(settings: Settings, clients: Clients | None = None, log=print) -> None:
    """Delete the buckets (with every object and version in them), the table, the queue and
    the role."""
    clients = clients or Clients(settings)
    for part in PARTS:
        part.down(settings, clients, log)
