from django.apps import AppConfig


class OrderFlowConfig(AppConfig):
    """The shared kernel: event envelope, outbox, idempotency store, correlation ids."""

    name = "orderflow"
    verbose_name = "OrderFlow kernel"
