"""Worker CPU and statements of the four saga steps, in-process, on a throwaway database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/orderflow REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m devtools.saga_steps_cpu --orders 200 [--keep-db] [--profile STEP]

Places ``--orders`` orders of three lines, then runs each step for every order as the saga
lane does — one transaction per step, the step's service called inside it — and reports,
per step, the process CPU (``time.process_time``) and the statements sent, per order.
The steps are: reserve stock, charge, confirm, issue the invoice. Nothing else (relay,
deliveries, projections) is measured. The throwaway database (``test_saga_steps_<pid>``,
beside ``DATABASE_URL``'s) is created, migrated and dropped here; ``--keep-db`` keeps it.
A measurement tool, outside the contexts: it reaches into orders' and payments' services
and models as a test does.
"""

import argparse
import cProfile
import os
import pstats
import time
from decimal import Decimal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import override_settings  # noqa: E402

from devtools.statements import sent_statements  # noqa: E402

#: the first orders' statements are captured, the rest timed (capturing costs CPU too)
COUNTED = 10
STEPS = ("reserve", "charge", "confirm", "invoice")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--keep-db", action="store_true", help="reuse the throwaway db")
    parser.add_argument("--profile", metavar="STEP", choices=STEPS, help="cProfile one step")
    args = parser.parse_args(argv)
    if args.orders < 2:
        parser.error("--orders must be at least 2 (some are counted, the rest timed)")
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_saga_steps_{os.getpid()}"
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=args.keep_db)
    try:
        # the lane relays a step's events itself: no kick belongs to the step
        with override_settings(FAULTS_UNSAFE_NO_KICK=True):
            report = _measure(args.orders, args.profile)
    finally:
        if not args.keep_db:
            connection.creation.destroy_test_db(name, verbosity=0)
    print(f"{args.orders} orders, 3 lines each ({connection.vendor})")
    print(f"{'step':<10}{'CPU ms/order':>14}{'statements/order':>18}")
    total = 0.0
    for step, (cpu_ms, statements) in report.items():
        total += cpu_ms
        print(f"{step:<10}{cpu_ms:>14.3f}{statements:>18.1f}")
    print(f"{'total':<10}{total:>14.3f}")


def _measure(count: int, profile: str | None = None) -> dict[str, tuple[float, float]]:
    from orders import services as order_services
    from orders.models import Product
    from payments.models import Payment
    from payments.services import invoice_issue, payment_charge

    shop = order_services.shop_create(name="Steps", contact_email="steps@example.com")
    skus = ["COFFEE", "MUG", "FILTER"]
    Product.objects.bulk_create(
        Product(
            shop=shop,
            sku=sku,
            name=sku,
            price=Decimal("9.90"),
            currency=shop.currency,
            on_hand=10 * count,
        )
        for sku in skus
    )
    order_ids = []
    for n in range(count):
        order = order_services.order_place(
            shop=shop,
            customer=order_services.CustomerInput(name="Ana", email=f"ana{n}@example.com"),
            shipping_address={
                "line1": "Rua A 1",
                "city": "Recife",
                "postal_code": "50000-000",
                "country": "BR",
            },
            lines=[order_services.LineInput(sku=sku, quantity=1) for sku in skus],
            payment_token="tok_ok",  # noqa: S106  (a test card token)
        )
        order_ids.append(order.pk)

    def confirm(order_id, payment):
        order_services.order_confirm_payment(
            order_id=order_id,
            payment_id=payment.pk,
            amount=payment.amount,
            currency=payment.currency,
        )

    steps = {
        "reserve": lambda order_id, _: order_services.order_reserve_stock(order_id=order_id),
        "charge": lambda order_id, _: payment_charge(order_id=order_id, attempt=1),
        "confirm": confirm,
        "invoice": lambda order_id, _: invoice_issue(order_id=order_id),
    }
    counted = min(COUNTED, count // 2)
    report = {}
    profiles: list = []
    for step, run in steps.items():
        # what the handler gets from the event, read beforehand (the lane has the event)
        payments = (
            {p.order_id: p for p in Payment.objects.filter(order_id__in=order_ids)}
            if step == "confirm"
            else {}
        )
        cpu = 0.0
        statements = 0
        for n, order_id in enumerate(order_ids):
            payment = payments.get(order_id)
            if n < counted:  # the statements of the first orders, counted (not timed)
                with sent_statements() as sent, transaction.atomic():
                    run(order_id, payment)
                statements += len(sent)
                continue
            profiler = cProfile.Profile(time.process_time) if step == profile else None
            started = time.process_time()
            if profiler:
                profiler.enable()
            with transaction.atomic():
                run(order_id, payment)
            if profiler:
                profiler.disable()
                profiles.append(profiler)
            cpu += time.process_time() - started
        report[step] = (cpu * 1000 / (count - counted), statements / counted)
    if profiles:
        stats = pstats.Stats(profiles[0])
        for more in profiles[1:]:
            stats.add(more)
        stats.sort_stats("tottime").print_stats(30)
    return report


if __name__ == "__main__":
    main()
