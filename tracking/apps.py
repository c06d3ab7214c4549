from django.apps import AppConfig


class TrackingConfig(AppConfig):
    """Tracking history, live status, WebSocket consumers and the staff pages."""

    name = "tracking"

    def ready(self) -> None:
        from . import handlers  # noqa: F401  (registers the subscribers)
