"""Bench of the webhook sender (not collected by the suite: run it by its path).

100 deliveries of 5 shops (20 each, due interleaved), each shop's endpoint on its own
loopback host answering after 20 ms; prints wall time, SQL statements, commits and TCP
connections accepted::

    .venv/bin/python -m pytest -q -s -p no:cacheprovider notifications/tests/bench_sender.py
"""

import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications import services
from notifications.choices import SendStatus
from notifications.models import WebhookDelivery
from testkit.factories import ShopFactory

DELAY = 0.02


def _server(host):
    counts = {"connections": 0, "requests": 0}

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            counts["connections"] += 1

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(DELAY)
            counts["requests"] += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer((host, 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, counts


@pytest.mark.django_db(transaction=True)
def test_webhook_sender_bench(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    hosts = [f"127.0.0.{n}" for n in range(2, 7)]
    servers = [_server(h) for h in hosts]
    endpoints = []
    for (server, _), host in zip(servers, hosts, strict=True):
        shop = ShopFactory()
        endpoints.append(
            services.webhook_endpoint_create(
                shop_id=shop.pk, url=f"http://{host}:{server.server_address[1]}/in"
            )[0]
        )
    for _ in range(20):
        for endpoint in endpoints:
            event_id = uuid.uuid4()
            WebhookDelivery.objects.create(
                endpoint=endpoint,
                event_id=event_id,
                event_type="order.placed",
                payload={"event_id": str(event_id), "type": "order.placed", "data": {}},
                status=SendStatus.QUEUED,
                next_attempt_at=timezone.now(),
            )
    commits = []
    real_commit = connection.commit
    connection.commit = lambda: (commits.append(1), real_commit())[1]
    started = time.perf_counter()
    sent = 0
    with CaptureQueriesContext(connection) as queries:
        while (batch := services.webhook_deliveries_send_due(limit=25)).handled:
            sent += batch.sent
    elapsed = time.perf_counter() - started
    connection.commit = real_commit
    conns = sum(c["connections"] for _, c in servers)
    print(
        f"\nBENCH sent={sent} seconds={elapsed:.2f} statements={len(queries)} "
        f"commits={len(commits)} connections={conns}"
    )
    assert sent == 100
    for server, _ in servers:
        server.shutdown()
