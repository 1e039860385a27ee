"""Benchmarks of Thumbs: `python -m bench` runs them all."""
