"""Bench of the webhook sender (not collected by the suite: run it by its path).

Deliveries of 5 shops (due interleaved), each shop's endpoint on its own loopback host.
The receivers run in a child process, so the process CPU measured here is the sender's
alone: the claim, the POSTs and the record, on every thread. After a warm-up round
(connections opened, statements prepared), each round queues ``BENCH_DELIVERIES`` rows and
sends them in batches of ``BENCH_BATCH`` (the drain's size by default); it prints the
sender's CPU per delivery (``time.process_time``), the part of it spent on the calling
thread (claim and record; the POSTs run on the sender's threads) and in the kernel
(``os.times``, in clock ticks: system calls, the loopback's TCP), wall time, SQL statements
per batch (BEGIN and COMMIT apart), commits and TCP connections accepted::

    .venv/bin/python -m pytest -q -s -p no:cacheprovider notifications/tests/bench_sender.py

``BENCH_ROUNDS`` (3), ``BENCH_DELIVERIES`` (300), ``BENCH_BATCH`` and ``BENCH_DELAY`` (the
receivers' answer time, 0 s: CPU dominates; 0.02 for a receiver's latency) change the run.
"""

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from functools import partial

import pytest
from django.db import connection
from django.utils import timezone

from notifications import services
from notifications.choices import SendStatus
from notifications.models import WebhookDelivery
from notifications.services import deliveries
from testkit.factories import ShopFactory

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DELIVERIES = int(os.environ.get("BENCH_DELIVERIES", "300"))
BATCH = int(os.environ.get("BENCH_BATCH", str(deliveries.BATCH_SIZE)))
DELAY = float(os.environ.get("BENCH_DELAY", "0"))
HOSTS = [f"127.0.0.{n}" for n in range(2, 7)]

#: The receivers, run by a child process: one keep-alive HTTP server per host. Prints the
#: ports as JSON, then serves until stdin closes, and prints the connections accepted.
_RECEIVERS = r"""
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

delay = float(sys.argv[1])
connections = [0]

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        connections[0] += 1

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if delay:
            time.sleep(delay)
        # one write: headers and body in two would wait for the sender's delayed ACK
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def log_message(self, *a):
        pass

servers = [ThreadingHTTPServer((host, 0), H) for host in sys.argv[2:]]
for server in servers:
    threading.Thread(target=server.serve_forever, daemon=True).start()
print(json.dumps([s.server_address[1] for s in servers]), flush=True)
sys.stdin.read()
print(connections[0], flush=True)
"""


def _queue_round(endpoints, count: int) -> None:
    now = timezone.now()
    rows = []
    for n in range(count):
        event_id = uuid.uuid4()
        rows.append(
            WebhookDelivery(
                endpoint=endpoints[n % len(endpoints)],
                event_id=event_id,
                event_type="order.placed",
                payload={"event_id": str(event_id), "type": "order.placed", "data": {}},
                status=SendStatus.QUEUED,
                next_attempt_at=now,
            )
        )
    WebhookDelivery.objects.bulk_create(rows)


def _noting(statements, execute, sql, params, many, context):
    # an execute wrapper sees the ORM's statements and the prepared ones alike
    statements.append(sql)
    return execute(sql, params, many, context)


def _send_round() -> dict:
    """Send until nothing is due; the sender's CPU (all threads) and its calling thread's."""
    commits = []
    real_commit = connection.commit
    connection.commit = lambda: (commits.append(1), real_commit())[1]
    sent = 0
    batches = []  # the statements of each batch
    try:
        wall, cpu, own, times = (
            time.perf_counter(),
            time.process_time(),
            time.thread_time(),
            os.times(),
        )
        while True:
            statements = []
            with connection.execute_wrapper(partial(_noting, statements)):
                batch = services.webhook_deliveries_send_due(limit=BATCH)
            if not batch.handled:
                break
            sent += batch.sent
            batches.append(statements)
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        own = time.thread_time() - own
        system = os.times().system - times.system
    finally:
        connection.commit = real_commit
    return {
        "sent": sent,
        "batches": batches,
        "cpu": cpu,
        "own": own,
        "system": system,
        "wall": wall,
        "commits": len(commits),
    }


@pytest.mark.django_db(transaction=True)
def test_webhook_sender_bench(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receivers = subprocess.Popen(
        [sys.executable, "-c", _RECEIVERS, str(DELAY), *HOSTS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ports = json.loads(receivers.stdout.readline())
        endpoints = [
            services.webhook_endpoint_create(
                shop_id=ShopFactory().pk, url=f"http://{host}:{port}/in"
            )[0]
            for host, port in zip(HOSTS, ports, strict=True)
        ]
        rounds = []
        for n in range(ROUNDS + 1):  # the first warms up
            _queue_round(endpoints, DELIVERIES)
            result = _send_round()
            assert result["sent"] == DELIVERIES
            if n:
                rounds.append(result)
    finally:
        receivers.stdin.close()
        connections = int(receivers.stdout.readline() or -1)
        receivers.wait(timeout=10)
    print()
    for n, r in enumerate(rounds, 1):
        print(
            f"BENCH round={n} sent={r['sent']} batch={BATCH} delay={DELAY:g} "
            f"cpu_ms_per_delivery={r['cpu'] * 1000 / r['sent']:.3f} "
            f"calling_thread_ms_per_delivery={r['own'] * 1000 / r['sent']:.3f} "
            f"system_ms_per_delivery={r['system'] * 1000 / r['sent']:.3f} "
            f"seconds={r['wall']:.2f} batches={len(r['batches'])} "
            f"statements_per_batch={sorted({len(b) for b in r['batches']})} "
            f"commits_per_batch={r['commits'] / len(r['batches']):.2f}"
        )
    if os.environ.get("BENCH_SQL"):
        for sql in rounds[-1]["batches"][-1]:
            print("BENCH SQL", " ".join(sql.split())[:160])
    per_delivery = [r["cpu"] * 1000 / r["sent"] for r in rounds]
    print(
        f"BENCH mean cpu_ms_per_delivery={statistics.mean(per_delivery):.3f} "
        f"(min {min(per_delivery):.3f}) over {len(rounds)} rounds; "
        f"connections accepted={connections}; sender {deliveries.__file__}"
    )
