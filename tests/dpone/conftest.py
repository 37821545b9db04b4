"""Fixtures of a real second dpone build (dpone 0.87.4): see tests/builds.py."""

from tests.builds import interpreter_cache, old_python, old_wheel  # noqa: F401
