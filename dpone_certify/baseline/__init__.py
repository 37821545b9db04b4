"""Benchmark baselines: measured metrics accepted explicitly, compared on later runs."""
