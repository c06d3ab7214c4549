"""What the running system says about itself: metrics, traces and log lines.

``metrics`` (Prometheus: the kernel's own series, the exposition, the scrape-time
collectors), ``tracing`` (OpenTelemetry, installed only when an exporter is named) and
``logging_format`` / ``logging_context`` (one JSON or console line per record, with the
correlation id and the event or delivery it concerns). Each context declares the series of
its own vocabulary in its own ``metrics.py``.
"""
