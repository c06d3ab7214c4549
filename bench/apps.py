from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Baselines the benchmark compares OrderFlow against (never installed in the app)."""

    name = "bench"
