"""What the rehearsal did and found, printed as it goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Report:
    """The steps run (with their time) and the checks made (with their problems)."""

    steps: list[tuple[str, float]] = field(default_factory=list)
    checks: list[tuple[str, list[str]]] = field(default_factory=list)
    print: object = print

    def step(self, name: str, seconds: float, log: Path | None = None) -> None:
        self.steps.append((name, seconds))
        self.print(f"  {seconds:5.1f} s  {name}" + (f"  ({log.name})" if log else ""), flush=True)

    def check(self, name: str, problems: list[str]) -> None:
        self.checks.append((name, problems))
        self.print(f"      {'ok    ' if not problems else 'FAILED'}  {name}", flush=True)
        for problem in problems:
            self.print(f"              - {problem}", flush=True)

    @property
    def failed(self) -> list[str]:
        """Return the names of the checks that found a problem."""
        return [name for name, problems in self.checks if problems]
