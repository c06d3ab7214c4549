from django.apps import AppConfig


class OrderFlowConfig(AppConfig):
    """The shared kernel: event envelope, outbox, idempotency store, correlation ids."""

    name = "orderflow"
    verbose_name = "OrderFlow kernel"

    def ready(self) -> None:
        # Register the kernel's Celery tasks in every process, not only in workers (where
        # autodiscovery imports them lazily): kicks look the pump task up by name after
        # commit, in web processes and management commands too.
        from . import tasks  # noqa: F401
