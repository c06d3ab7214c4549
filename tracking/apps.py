from django.apps import AppConfig


class TrackingConfig(AppConfig):
    """Tracking history, live status, WebSocket consumers and the staff pages."""

    name = "tracking"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from . import (
            handlers,  # noqa: F401  (registers the projector)
            metrics,  # noqa: F401  (its series are exposed at 0 before the first socket)
        )
        from .staff_sessions import close_sockets_on_logout

        # a logout closes the staff sockets opened with that session
        user_logged_out.connect(
            close_sockets_on_logout, dispatch_uid="tracking.close_sockets_on_logout"
        )
