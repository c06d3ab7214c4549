"""CPU of sending webhooks, per delivery, in-process, to the bench's receiver over loopback.

    DATABASE_URL=postgres://…/scratch REDIS_URL=redis://127.0.0.1:6379/7 DEBUG=false \\
    SECRET_KEY=… .venv/bin/python -m devtools.webhook_send_cpu 200 [--batch 10]

Starts the bench's webhook receiver (``bench/receiver.py``, a process of its own with
keep-alive), gives a new shop one endpoint there subscribed to every event type, places N
orders and runs their events (the saga, the projectors: a delivery per event queued), then
times the webhook sender alone until nothing is due: claim, group, sign, POST over the
process's kept connections, record the batch (``--batch``: the claim's limit, the
sender's ``BATCH_SIZE`` by default). Prints this process's CPU per delivery and
the SQL statements per delivery (prepared ones included); the receiver's CPU is not
counted. Do it twice, in two checkouts in turn (``PYTHONPATH=<checkout>``, run from the
checkout), to compare. A scratch database (migrated here) only.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")
os.environ["WEBHOOK_ALLOW_PRIVATE"] = "true"  # the receiver listens on loopback

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from bench.live import free_port  # noqa: E402
from devtools.statements import sent_statements  # noqa: E402
from notifications.choices import SendStatus  # noqa: E402
from notifications.models import WebhookDelivery  # noqa: E402
from notifications.services import webhook_deliveries_send_due  # noqa: E402
from notifications.services.deliveries import BATCH_SIZE  # noqa: E402
from notifications.services.endpoints import shop_event_types, webhook_endpoint_create  # noqa: E402
from orderflow.events.pump import drain  # noqa: E402
from testkit.factories import ProductFactory, ShopFactory, order_for  # noqa: E402


def main(count: int, batch: int) -> None:
    call_command("migrate", verbosity=0)
    port = free_port()
    with tempfile.NamedTemporaryFile(suffix=".tsv") as out:
        receiver = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", str(port), out.name],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # its connections cut at exit: not our concern
            text=True,
        )
        try:
            if receiver.stdout.readline().strip() != "listening":
                sys.exit("the receiver did not start")
            _measure(count, batch, f"http://127.0.0.1:{port}")
        finally:
            receiver.terminate()
            receiver.wait(timeout=10)


def _measure(count: int, batch: int, receiver_url: str) -> None:
    shop = ShopFactory(slug=f"hooks-{uuid.uuid4().hex[:8]}", contact_email="ops@example.com")
    ProductFactory(shop=shop, sku="HOOK-1", on_hand=10 * count)
    endpoint, _ = webhook_endpoint_create(
        shop_id=shop.id, url=f"{receiver_url}/shop/{shop.id}", event_types=shop_event_types()
    )
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        for _ in range(count):
            order_for(shop, lines={"HOOK-1": 2})
        drain()
    due = WebhookDelivery.objects.filter(status__in=[SendStatus.QUEUED, SendStatus.SENDING])
    if due.exclude(endpoint=endpoint).exists():
        sys.exit("deliveries of other endpoints are due: use a scratch database of its own")
    queued = due.filter(endpoint=endpoint).count()
    if queued < count:
        sys.exit(f"{queued} deliveries queued for {count} orders")
    sent = 0
    with sent_statements() as statements:
        cpu = time.process_time()
        while (result := webhook_deliveries_send_due(limit=batch)).sent:
            sent += result.sent
        cpu = time.process_time() - cpu
    if sent < queued:
        sys.exit(f"{sent} of {queued} deliveries sent")
    print(
        f"{sent} deliveries: {cpu / sent * 1000:.3f} ms CPU per delivery, "
        f"{len(statements) / sent:.2f} SQL statements per delivery"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("orders", type=int, nargs="?", default=200)
    parser.add_argument("--batch", type=int, default=BATCH_SIZE, help="deliveries per claim")
    args = parser.parse_args()
    main(args.orders, args.batch)
