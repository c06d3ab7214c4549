"""gunicorn settings for the ``http`` role (``deploy/entrypoint.sh http``).

gthread workers: each process serves ``WEB_THREADS`` requests at once, which suits a
Django app waiting on PostgreSQL. Measured on 2 cores against sync workers, 3 processes,
8 threads, granian and daphne (docs/performance.md, "Intake: tuning log"): 2 processes of
4 threads held the highest order rate at the lowest CPU per order. Logs go through
Django's LOGGING once the app loads; gunicorn's own few lines use the same JSON (or
console) format.
"""

import os

from prometheus_client import multiprocess

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
# A worker that stops answering for this long is replaced; requests are far shorter.
timeout = 60
graceful_timeout = 30
# Recycle workers now and then (a slow leak stays slow); jitter avoids all at once.
max_requests = 10_000
max_requests_jitter = 1_000
# Load the app in each worker, after the fork: database pools and tracing threads are
# per process.
preload_app = False
# django-prometheus counts requests and traces time them. Turned on (--access-logfile -),
# access lines go through gunicorn.access below: JSON, tracking tokens redacted.
accesslog = None

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "orderflow.observability.logging_format.JsonFormatter"},
        "console": {"()": "orderflow.observability.logging_format.ConsoleFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": os.environ.get("LOG_FORMAT", "json"),
        },
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}


def child_exit(server, worker):
    """Tell Prometheus' multiprocess mode that a worker is gone (its live gauges stop)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
