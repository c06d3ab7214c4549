from django.apps import AppConfig

#: the route of ``views.OrderListCreateApi`` (``orders/urls.py``); a test checks they agree
INTAKE_PATH = "/api/v1/orders"


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
        # the ordinary new order and its replay, served ahead of Django's middleware; every
        # other request to the route is declined and answered by the DRF view behind it
        from orderflow.api import fast_routes

        fast_routes.run_around("orders.metrics.OrderIntakeMiddleware")
        fast_routes.register("POST", INTAKE_PATH, "orders.api.lean.place")
