"""Fixtures shared by every test tree (the environment itself is set in tests/environment.py)."""

pytest_plugins = ["tests.fixtures", "testkit.plugin"]
