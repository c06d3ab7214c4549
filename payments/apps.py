from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    """The simulated payment gateway, payments, refunds and invoices (the order saga issue)."""

    name = "payments"

    def ready(self) -> None:
        from . import handlers  # noqa: F401  (registers the subscribers)
