"""Where Prometheus reads the metrics: ``/metrics`` on web, a small HTTP port on workers.

Multiprocess mode, not a port per process: gunicorn and Celery's prefork pool fork
their processes, restart them (``max_requests``, ``max_tasks_per_child``) and scale them
by the number of cores; a port per process would make Prometheus chase short-lived
targets and lose counts with every restart. With ``PROMETHEUS_MULTIPROC_DIR`` set (the
container entrypoint sets it for each role), every process of a container writes its
samples to memory-mapped files there and any one of them serves the sum: one target per
container, counters that survive a process restart. Without it (embedded mode, one
process) the process serves its own registry.
"""

import hmac
import logging
import os

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server
from prometheus_client.exposition import choose_encoder

from .collectors import ScrapeCollectors

logger = logging.getLogger(__name__)


def process_registry():
    """The samples of this process, or of every process of the container in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


class _Exposition:
    """The processes' samples plus the scrape-time gauges, as one collector."""

    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


def web_exposition() -> _Exposition:
    return _Exposition(process_registry(), ScrapeCollectors())


@never_cache
def metrics_view(request):
    """Serve the Prometheus exposition (text, or OpenMetrics when asked for)."""
    token = settings.METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            return HttpResponse(status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(web_exposition()), content_type=content_type)


def start_worker_exporter(*, address: str, port: int) -> None:
    """Serve this container's worker metrics on ``address:port`` from a daemon thread."""
    start_http_server(port, addr=address, registry=process_registry())
    logger.info("worker metrics on http://%s:%d/metrics", address, port)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        logger.warning(
            "PROMETHEUS_MULTIPROC_DIR is not set: the metrics of the worker's pool processes "
            "are not visible on this port (see docs/operations.md, Observability)"
        )
