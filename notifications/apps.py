from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Customer e-mails and signed shop webhooks."""

    name = "notifications"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            handlers,  # noqa: F401  (registers the subscribers)
            metrics,  # noqa: F401  (its series are exposed at 0 before the first attempt)
            tasks,  # noqa: F401  (kicks look the senders' tasks up by name)
        )
