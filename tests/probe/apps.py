from django.apps import AppConfig


class ProbeConfig(AppConfig):
    """A test-only context whose subscribers succeed, fail, sleep or count on command."""

    name = "tests.probe"
    label = "probe"

    def ready(self) -> None:
        from . import handlers  # noqa: F401  (registers the subscribers)
