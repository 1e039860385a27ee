"""What every part of a stage's setup shares: its clients, and how a difference is put right."""

from __future__ import annotations

from collections.abc import Callable

from ..config import Settings

# A difference from the expected setup: what is wrong, and how to put it right (None: by hand).
Difference = tuple[str, Callable[[], None] | None]


class InfraError(RuntimeError):
    """Part of a stage cannot be brought to the expected setup automatically."""


class Clients:
    """The boto3 clients of a stage's setup, each made on first use (a test may hand some in)."""

    def __init__(self, settings: Settings, **given):
        self._settings = settings
        self._made = dict(given)
        self._account: str | None = None

    @property
    def account(self) -> str:
        """Return the id of the account the credentials belong to (asked of STS once)."""
        if self._account is None:
            self._account = self["sts"].get_caller_identity()["Account"]
        return self._account

    def __getitem__(self, service: str):
        if service not in self._made:
            from ..services import client

            self._made[service] = client(service, self._settings)
        return self._made[service]


def apply(differences: list[Difference], log) -> list[str]:
    """Put right what can be; return the problems that need a person."""
    manual = []
    for problem, fix in differences:
        if fix is None:
            manual.append(problem)
        else:
            fix()
            log(f"fixed: {problem}")
    return manual


def quiet(message: str) -> None:
    """Log nothing."""


def days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"
