from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Customer e-mails and signed shop webhooks."""

    name = "notifications"
