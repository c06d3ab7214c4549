"""Helpers for the test suite and the benchmark: running real OrderFlow processes."""
