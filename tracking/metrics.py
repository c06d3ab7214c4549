"""The tracking context's metrics: open WebSocket connections and the messages pushed.

Recorded by the consumers (``consumers.py``); the kernel's
:mod:`orderflow.observability.metrics` holds the helpers and the exposition.
"""

from prometheus_client import Counter, Gauge

from orderflow.observability.metrics import labels_once

WEBSOCKET_CONNECTIONS = Gauge(
    "orderflow_websocket_connections",
    "Open WebSocket connections, by consumer.",
    ["consumer"],
    multiprocess_mode="livesum",
)
WEBSOCKET_PUSHES = Counter(
    "orderflow_websocket_pushes_total",
    "Messages pushed to WebSocket clients, by consumer.",
    ["consumer"],
)


def websocket_connected(*, consumer: str) -> None:
    """Call from a consumer's ``connect()`` once the connection is accepted."""
    WEBSOCKET_CONNECTIONS.labels(consumer=consumer).inc()


def websocket_disconnected(*, consumer: str) -> None:
    """Call from a consumer's ``disconnect()`` (only for a connection that was accepted)."""
    WEBSOCKET_CONNECTIONS.labels(consumer=consumer).dec()


def record_websocket_push(*, consumer: str, messages: int = 1) -> None:
    """Count messages sent to WebSocket clients by ``consumer``."""
    labels_once(WEBSOCKET_PUSHES, consumer).inc(messages)
