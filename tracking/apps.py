from django.apps import AppConfig


class TrackingConfig(AppConfig):
    """Tracking history, live status, WebSocket consumers and the staff pages."""

    name = "tracking"
