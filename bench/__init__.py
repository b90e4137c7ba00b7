"""Benchmarks: the engine against a naive baseline, side by side (see ``bench/README.md``)."""
