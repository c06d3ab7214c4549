"""Staff intake: the new-order page places at most one order per rendered form.

The page's form carries a key generated when it is rendered. Placing goes through the
same idempotency store as the API's ``POST /orders`` (shop scope, the form key as the
Idempotency-Key), so a double click, a resubmitted page or a retry after a timeout
places and charges one order, and every later submit is answered with that order.
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from uuid import UUID

from django.db import OperationalError, connection, transaction

from orderflow.idempotency import RequestInFlight, request_fingerprint, run_idempotent

from ..models import Order, Shop
from .intake import CustomerInput, LineInput, order_place
from .shops import SYSTEM, Actor

#: the path the fingerprint names, so that an API request can never match a form's key
FORM_PATH = "staff:orders/new"
#: how long a second submit waits for its twin to commit before it is told to look again
TWIN_WAIT_MS = 10_000
#: PostgreSQL's SQLSTATE for a lock not granted within ``lock_timeout``
LOCK_NOT_AVAILABLE = "55P03"


def order_place_once(
    *,
    shop: Shop,
    form_key: UUID,
    customer: CustomerInput,
    shipping_address: Mapping[str, str],
    lines: Sequence[LineInput],
    payment_token: str,
    actor: Actor | str = SYSTEM,
    shipping_method: str = "",
    discount_codes: Sequence[str] = (),
) -> tuple[Order, bool]:
    """Place the order of one rendered form once; return it and whether it already existed.

    Raise ``IdempotencyKeyReused`` when the same form comes back with other details, and
    ``RequestInFlight`` when its twin is still being placed after ``TWIN_WAIT_MS``.
    """
    key = str(form_key)
    scope = f"shop:{shop.pk}"
    fingerprint = request_fingerprint(
        method="POST",
        path=FORM_PATH,
        payload={
            "customer": asdict(customer),
            "shipping_address": dict(shipping_address),
            "lines": [asdict(line) for line in lines],
            "payment_token": payment_token,
            "shipping_method": shipping_method,
            "discount_codes": list(discount_codes),
        },
    )

    def place() -> tuple[int, dict]:
        order = order_place(
            shop=shop,
            customer=customer,
            shipping_address=dict(shipping_address),
            lines=lines,
            payment_token=payment_token,
            idempotency_key=key,
            actor=actor,
            shipping_method=shipping_method,
            discount_codes=discount_codes,
        )
        return 201, {"order_id": str(order.id)}

    with transaction.atomic():
        _wait_for_twin(scope, key)
        stored = run_idempotent(scope=scope, key=key, fingerprint=fingerprint, operation=place)
    order = Order.objects.select_related("shop").get(pk=stored.body["order_id"])
    return order, stored.replayed


def _wait_for_twin(scope: str, key: str) -> None:
    """Queue behind a submit of the same form that is still placing its order.

    The store's own lock is only tried, so that an API client in flight is told so at
    once (409). A person who double-clicked should instead see the order the first click
    placed: this lock is waited for (bounded), and once the twin has committed the store
    replays its answer. On SQLite, IMMEDIATE transactions already serialise the twins.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        (previous,) = cursor.fetchone()
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{TWIN_WAIT_MS}ms"])
        try:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"staff-intake\x1f{scope}\x1f{key}"],
            )
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            # the transaction is aborted; leaving the atomic block rolls it back
            raise RequestInFlight() from None
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
