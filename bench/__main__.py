"""Run every benchmark in turn: `python -m bench [--quick]`."""

import importlib
import sys

# Each module has main(argv) -> int.
BENCHMARKS = [
    "bench.imaging",
    "bench.formats",
    "bench.memory",
    "bench.coldstart",
    "bench.latency",
    "bench.shrink",
    "bench.cost",
]


def main(argv: list[str]) -> int:
    """Run each benchmark module's main with the same arguments; fail if any fails."""
    status = 0
    for name in BENCHMARKS:
        status = importlib.import_module(name).main(argv) or status
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
