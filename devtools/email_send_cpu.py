"""CPU of sending the order confirmation e-mail, per e-mail, in-process.

    DATABASE_URL=postgres://…/scratch REDIS_URL=redis://127.0.0.1:6379/7 DEBUG=false \\
    SECRET_KEY=… .venv/bin/python -m devtools.email_send_cpu 400

Places N orders and runs their events (the saga, the projectors: N confirmations queued),
then times the e-mail sender alone until nothing is due: claim, compose (templates, the
customer's formats), hand to the configured backend (``EMAIL_URL``; full mode's default
writes each message to a file), record the outcome. Prints the process's CPU per e-mail and
the SQL statements per e-mail (prepared ones included). Do it twice, in two checkouts in turn
(``PYTHONPATH=<checkout>``), to compare. A scratch database (migrated here) only.
"""

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from devtools.statements import sent_statements  # noqa: E402
from notifications.choices import SendStatus  # noqa: E402
from notifications.models import Notification  # noqa: E402
from notifications.services import email_notifications_send_due  # noqa: E402
from orderflow.events.pump import drain  # noqa: E402
from testkit.factories import ProductFactory, ShopFactory, order_for  # noqa: E402


def main(count: int) -> None:
    call_command("migrate", verbosity=0)
    shop = ShopFactory(contact_email="ops@example.com")
    ProductFactory(shop=shop, sku="MAIL-1", on_hand=10 * count)
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False):
        for _ in range(count):
            order_for(shop, lines={"MAIL-1": 2})
        queued = Notification.objects.filter(shop_id=shop.id, status=SendStatus.QUEUED)
        for _ in range(10):  # one drain may run out of time (a large N, under a profiler)
            drain()
            if queued.count() >= count:
                break
    if queued.count() != count:
        sys.exit(f"{queued.count()} e-mails queued for {count} orders")
    sent = 0
    with sent_statements() as statements:
        cpu = time.process_time()
        while batch := email_notifications_send_due():
            if not batch.handled:
                break
            sent += batch.sent
        cpu = time.process_time() - cpu
    print(
        f"{sent} e-mails: {cpu / sent * 1000:.3f} ms CPU per e-mail, "
        f"{len(statements) / sent:.2f} SQL statements per e-mail"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
