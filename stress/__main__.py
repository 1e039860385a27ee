"""`make stress`: Thumbs under random routing, duplicate events, crashes, AWS faults and
hostile files, all on loopback against the embedded AWS. Prints one summary; exits 1 if any
flow, job or input did not hold.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import forms, hostile, scenarios
from .cluster import Cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress", description=__doc__)
    parser.add_argument("--flows", type=int, default=50, help="concurrent full flows (50)")
    parser.add_argument("--instances", type=int, default=3, help="app processes (3)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    outcomes = []
    with Cluster(size=args.instances, copies=3) as cluster:
        print(
            f"stress: {args.instances} app instances, embedded AWS on {cluster.endpoint}, "
            f"logs in {cluster.logdir}",
            flush=True,
        )
        outcomes += run(lambda: scenarios.random_routing(cluster, args.flows))
        outcomes += run(lambda: [scenarios.transient_faults(cluster)])
        outcomes += run(lambda: [scenarios.crashes(cluster)])
        outcomes += run(lambda: [forms.run(cluster)])
    # A third of S3's events lost; the reconciler runs every 3 s and finishes the jobs.
    with Cluster(
        size=2,
        stage="stresslost",
        copies=1,
        LOCAL_EVENT_LOSS="0.33",
        RECONCILE_SECONDS="3",
        DELAYED_AFTER_SECONDS="2",
    ) as cluster:
        outcomes += run(lambda: [scenarios.lost_events(cluster)])
    # One process per conversion, as Lambda gives each invocation, to measure each one's memory.
    with Cluster(size=1, stage="stresshostile", copies=1, worker="process") as cluster:
        outcomes += run(lambda: [hostile.run(cluster)])
    return summary(outcomes, time.monotonic() - started)


def run(scenario) -> list:
    """Run a scenario, say how it went at once, and return its outcomes."""
    began = time.monotonic()
    outcomes = list(scenario())
    for outcome in outcomes:
        print(
            f"  … {outcome.name}: {'held' if outcome.held else 'FAILED'} "
            f"({time.monotonic() - began:.0f} s)",
            flush=True,
        )
    return outcomes


def summary(outcomes, seconds: float) -> int:
    """Print the figures of every scenario and the problems; return the exit status."""
    print("\nThumbs stress summary")
    for outcome in outcomes:
        figures = ", ".join(
            f"{name.replace('_', ' ')} {value}" for name, value in sorted(outcome.counts.items())
        )
        print(f"  {outcome.name:<22} {'held  ' if outcome.held else 'FAILED'}  {figures}")
    problems = [f"{o.name}: {p}" for o in outcomes for p in o.problems]
    print(f"  {'jobs lost or stuck':<22} {len(problems)}")
    print(f"  {'time':<22} {seconds:.0f} s")
    for problem in problems:
        print(f"  - {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
