"""Benchmarks of Thumbs: `python -m bench` runs them all."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
# The function's memory as zappa_settings.json sets it for every stage (they extend dev), MB.
MEMORY_MB = json.loads((FOLDER.parent / "zappa_settings.json").read_text())["dev"]["memory_size"]


def rounds_and_folder(prog: str, argv: list[str]) -> tuple[int, Path]:
    """Read `--quick` and `--runs`: how many rounds to run, and where the report goes (this
    folder, or bench/out/ with --quick)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--quick", action="store_true", help="3 rounds, results under bench/out/")
    parser.add_argument("--runs", type=int, help="rounds (default 5; 3 with --quick)")
    args, _ = parser.parse_known_args(argv)
    out = FOLDER / "out" if args.quick else FOLDER
    out.mkdir(exist_ok=True)
    return args.runs or (3 if args.quick else 5), out
