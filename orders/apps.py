from django.apps import AppConfig


class OrdersConfig(AppConfig):
    """Shops, API keys, catalog and stock, orders and their state machine, the shops' API."""

    name = "orders"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            handlers,  # noqa: F401  (registers the subscribers)
            metrics,
            tasks,  # noqa: F401  (the embedded schedule looks its purge task up by name)
        )

        metrics.connect()
