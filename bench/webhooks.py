"""Webhook latency: an event commits → its webhook reaches the shop's receiver, with orders
coming in at a steady rate and a worker and beat running.

The receiver is a small HTTP server on 127.0.0.1 in this process. Each shop has one
endpoint for every event type. A request's latency is its receive time minus the
``OutboxEvent.created_at`` of its ``webhook-id`` (the event id); one machine, one clock.
"""

import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from devtools.processes import celery_beat, celery_worker, wait_until
from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.services.endpoints import shop_event_types, webhook_endpoint_create
from orderflow.models import OutboxEvent
from orders.models import Order

from . import live
from .deliveries import WORKER_PROCESSES, _reset

SETTLE_TIMEOUT = 120
FINAL = ("confirmed", "cancelled", "rejected")


class Receiver:
    """Answers 200 to every POST and keeps the first receive time of each webhook-id."""

    def __init__(self):
        self.first_seen: dict[str, float] = {}
        self.requests = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                receiver._record(self.headers.get("webhook-id", ""), at)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _record(self, event_id: str, at: float) -> None:
        with self._lock:
            self.requests += 1
            self.first_seen.setdefault(event_id, at)


def webhook_latency(*, rate: int, seconds: float) -> dict:
    _reset()
    Order.objects.all().delete()
    WebhookDelivery.objects.all().delete()
    WebhookEndpoint.objects.all().delete()
    shop, skus = live.shop_with_catalog("Bench Webhook Shop")
    types = shop_event_types()
    receiver = Receiver().start()
    webhook_endpoint_create(
        shop_id=shop.id, url=f"{receiver.url}/shop/{shop.id}", event_types=types
    )

    def expected() -> int:
        return OutboxEvent.objects.filter(tenant_id=str(shop.id), type__in=types).count()

    env = live.process_env()
    total = int(rate * seconds)
    try:
        with tempfile.TemporaryDirectory() as schedule_dir:
            worker = celery_worker(env, concurrency=WORKER_PROCESSES).start()
            beat = celery_beat(env, schedule_dir=schedule_dir).start()
            try:
                started = time.monotonic()
                next_at = started
                for _ in range(total):
                    live.place(shop, skus)
                    next_at += 1.0 / rate
                    pause = next_at - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                achieved = total / (time.monotonic() - started)
                deadline = time.monotonic() + SETTLE_TIMEOUT
                wait_until(
                    lambda: not Order.objects.exclude(status__in=FINAL).exists(),
                    timeout=SETTLE_TIMEOUT,
                    interval=0.2,
                )
                wait_until(
                    lambda: len(receiver.first_seen) >= expected(),
                    timeout=max(1.0, deadline - time.monotonic()),
                    interval=0.2,
                )
            finally:
                beat.stop()
                worker.stop()
    finally:
        receiver.stop()
    created = {
        str(event_id): at
        for event_id, at in OutboxEvent.objects.filter(tenant_id=str(shop.id)).values_list(
            "event_id", "created_at"
        )
    }
    latencies = [
        (at - created[event_id].timestamp()) * 1000
        for event_id, at in receiver.first_seen.items()
        if event_id in created
    ]
    return {
        "rate": rate,
        "achieved_rate": round(achieved, 1),
        "orders": total,
        "expected": expected(),
        "received": len(latencies),
        "requests": receiver.requests,
        **live.percentiles(latencies),
    }
