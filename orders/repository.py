"""The orders context's per-event statements, as server-side prepared SQL.

The saga's steps run once per order and event, so each statement here is planned once per
connection and sent as one round trip (``execute_prepared``: same connection and
transaction as the ORM, seen by ``connection.execute_wrapper`` counters). Each function
has an ORM twin for SQLite (the embedded mode), which gives the same result.

Every function runs inside the caller's transaction: the row locks they take last until
it ends.
"""

from decimal import Decimal
from uuid import UUID

from django.db import connection
from django.db.models import F
from django.utils import timezone

from orderflow.correlation import get_correlation_id
from orderflow.events.workqueue import execute_prepared, model_from_row

from .models import (
    Order,
    OrderLine,
    OrderTransition,
    Product,
    Shipment,
    ShipmentLine,
    Shop,
    ShopAPIKey,
)

# the tables, named as the models declare them (a test checks they still are)
TABLES = {
    Order: "orders_order",
    OrderLine: "orders_orderline",
    Product: "orders_product",
    OrderTransition: "orders_ordertransition",
    Shipment: "orders_shipment",
    ShipmentLine: "orders_shipmentline",
}

#: what a saga step reads of the order it locks (the columns ``_LOCK_ORDER_SQL`` selects);
#: any other field loads on access
SAGA_FIELDS = (
    "id",
    "shop_id",
    "number",
    "status",
    "version",
    "total",
    "currency",
    "customer_name",
    "customer_email",
    "created_at",
)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _run(sql: str, params) -> list[tuple]:
    # Django's errors (IntegrityError…), as its own cursors raise them
    with connection.wrap_database_errors:
        return execute_prepared(sql, params)


# --- the API key --------------------------------------------------------------------------
_KEY_COLUMNS = [f.column for f in ShopAPIKey._meta.concrete_fields]
_SHOP_COLUMNS = [f.column for f in Shop._meta.concrete_fields]
#: every API request (the lean intake's only when its in-process cache of verified keys
#: misses): the unrevoked key of the prefix (unique), its shop with it
_API_KEY_SQL = (
    f"SELECT {', '.join(f'k.{c}' for c in _KEY_COLUMNS)}, {', '.join(f's.{c}' for c in _SHOP_COLUMNS)}"  # noqa: S608, E501
    f" FROM {ShopAPIKey._meta.db_table} k JOIN {Shop._meta.db_table} s ON s.id = k.shop_id"
    " WHERE k.prefix = %s AND NOT k.revoked"
)


def api_key_with_shop(prefix: str) -> ShopAPIKey | None:
    """The unrevoked key named ``prefix``, its shop loaded, or None: one statement (the ORM
    compiled it, and built both rows, for ≈ 0.6 ms of every API request)."""
    if not _postgres():
        keys = ShopAPIKey.objects.select_related("shop").filter(prefix=prefix, revoked=False)
        return keys.first()
    rows = _run(_API_KEY_SQL, [prefix])
    if not rows:
        return None
    split = len(_KEY_COLUMNS)
    api_key = model_from_row(ShopAPIKey, rows[0][:split])
    api_key.shop = model_from_row(Shop, rows[0][split:])
    return api_key


# --- the order row ---------------------------------------------------------------------
_LOCK_ORDER_SQL = (
    "SELECT id, shop_id, number, status, version, total, currency, customer_name, customer_email,"
    " created_at FROM orders_order WHERE id = %s FOR UPDATE"
)


_SAGA_ATTNAMES = [f.attname for f in Order._meta.concrete_fields if f.attname in SAGA_FIELDS]


def order_locked(order_id: UUID) -> Order:
    """Lock the order's row and return it with :data:`SAGA_FIELDS` (raises DoesNotExist)."""
    if not _postgres():
        return Order.objects.select_for_update().only(*SAGA_FIELDS).get(pk=order_id)
    rows = _run(_LOCK_ORDER_SQL, [order_id])
    if not rows:
        raise Order.DoesNotExist(f"Order {order_id} does not exist.")
    # from_db takes a subset of the fields in the model's own order
    values = dict(zip(SAGA_FIELDS, rows[0], strict=True))
    return Order.from_db(connection.alias, _SAGA_ATTNAMES, [values[n] for n in _SAGA_ATTNAMES])


_PAYMENT_REQUEST_SQL = (
    "SELECT shop_id, number, status, total, currency, payment_token, payment_mode,"
    " payment_reference FROM orders_order WHERE id = %s"
)


def order_payment_row(
    order_id: UUID,
) -> tuple[int, str, str, Decimal, str, str, str, str] | None:
    """(shop_id, number, status, total, currency, payment_token, payment_mode,
    payment_reference) of the order, or None."""
    if not _postgres():
        return (
            Order.objects.filter(pk=order_id)
            .values_list(
                "shop_id",
                "number",
                "status",
                "total",
                "currency",
                "payment_token",
                "payment_mode",
                "payment_reference",
            )
            .first()
        )
    rows = _run(_PAYMENT_REQUEST_SQL, [order_id])
    return rows[0] if rows else None


# --- transitions -----------------------------------------------------------------------
#: The status change and its history rows in one statement: the conditional UPDATE (on the
#: status and version the caller read) feeds the INSERT, so a lost race inserts nothing.
_TRANSITION_SQL = """
WITH moved AS (
    UPDATE orders_order
    SET status = %(to)s, version = version + %(hops)s, status_reason = %(reason)s,
        updated_at = %(now)s
    WHERE id = %(id)s AND status = %(from)s AND version = %(version)s
    RETURNING id
)
INSERT INTO orders_ordertransition
    (order_id, from_status, to_status, actor, reason, correlation_id, created_at)
SELECT moved.id, hop.from_status, hop.to_status, %(actor)s, %(reason)s, %(correlation)s, %(now)s
FROM moved, unnest(%(froms)b::varchar[], %(tos)b::varchar[])
    WITH ORDINALITY AS hop(from_status, to_status, n)
ORDER BY hop.n
RETURNING id
"""


def transition_rows(order: Order, path: list[str], *, actor: str, reason: str) -> bool:
    """Move ``order`` along ``path`` (each hop checked by the caller) and record each hop.

    One statement on PostgreSQL. Returns False, with nothing written, when the order's
    status or version is no longer the one read (another writer won). Updates ``order``
    in memory when it moved.
    """
    now = timezone.now()
    hops = list(zip([order.status, *path[:-1]], path, strict=True))
    correlation = get_correlation_id() or ""
    if _postgres():
        rows = _run(
            _TRANSITION_SQL,
            {
                "to": str(path[-1]),
                "hops": len(path),
                "reason": reason,
                "now": now,
                "id": order.pk,
                "from": str(order.status),
                "version": order.version,
                "actor": actor,
                "correlation": correlation,
                "froms": [str(source) for source, _ in hops],
                "tos": [str(target) for _, target in hops],
            },
        )
        if not rows:
            return False
    else:
        updated = Order.objects.filter(
            pk=order.pk, status=order.status, version=order.version
        ).update(
            status=path[-1], version=F("version") + len(path), status_reason=reason, updated_at=now
        )
        if updated != 1:
            return False
        OrderTransition.objects.bulk_create(
            OrderTransition(
                order_id=order.pk,
                from_status=source,
                to_status=target,
                actor=actor,
                reason=reason,
                correlation_id=correlation,
            )
            for source, target in hops
        )
    order.status = path[-1]
    order.version += len(path)
    order.status_reason = reason
    order.updated_at = now
    return True


# --- stock -----------------------------------------------------------------------------
#: The order's lines with their products locked in id order (as every stock change locks
#: them, so two orders sharing products cannot deadlock) and what each product has free.
#: The lock returns the newest committed row, so the availability is the one that holds.
#: NO KEY UPDATE: the stock columns are no key, and it leaves alone the KEY SHARE locks that
#: new order lines' foreign keys take on their products (a plain FOR UPDATE waits for those
#: while intakes wait for it: a deadlock with a shop placing orders with these products).
_LINES_LOCKED_SQL = """
SELECT l.product_id, l.sku, l.quantity, p.on_hand - p.reserved
FROM orders_orderline l JOIN orders_product p ON p.id = l.product_id
WHERE l.order_id = %s
ORDER BY p.id
FOR NO KEY UPDATE OF p
"""
#: every line's quantity held at once, on rows already locked by ``_LINES_LOCKED_SQL``
_HOLD_SQL = """
UPDATE orders_product p SET reserved = p.reserved + l.quantity
FROM orders_orderline l
WHERE l.order_id = %s AND p.id = l.product_id
"""


def order_lines_locked(order_id: UUID) -> list[tuple[int, str, int, int]]:
    """Lock the order's products; return (product_id, sku, quantity, available) per line."""
    if _postgres():
        return _run(_LINES_LOCKED_SQL, [order_id])
    lines = list(
        OrderLine.objects.filter(order_id=order_id)
        .order_by("product_id")
        .values_list("product_id", "sku", "quantity")
    )
    free = dict(
        Product.objects.select_for_update(no_key=True)
        .filter(pk__in=[product_id for product_id, _, _ in lines])
        .order_by("pk")
        .values_list("pk", F("on_hand") - F("reserved"))
    )
    return [(product_id, sku, quantity, free[product_id]) for product_id, sku, quantity in lines]


def order_stock_hold(order_id: UUID) -> None:
    """Hold every line's quantity (the products are locked and have it free)."""
    if _postgres():
        _run(_HOLD_SQL, [order_id])
        return
    for product_id, quantity in OrderLine.objects.filter(order_id=order_id).values_list(
        "product_id", "quantity"
    ):
        Product.objects.filter(pk=product_id).update(reserved=F("reserved") + quantity)


# --- what an invoice shows -------------------------------------------------------------
#: The order, its shop and its lines (in line order, amounts as text) in one statement.
_INVOICE_ROW_SQL = """
SELECT o.id, o.number, o.shop_id, o.currency, o.subtotal, o.customer_name, o.customer_email,
    o.shipping_address, s.tax_rate, s.name, s.contact_email, s.address, s.legal_name, s.tax_id,
    (SELECT coalesce(json_agg(json_build_object(
                'sku', l.sku, 'name', l.name, 'unit_price', l.unit_price::text,
                'quantity', l.quantity, 'line_total', l.line_total::text,
                'discount_amount', l.discount_amount::text, 'tax_rate', l.tax_rate::text,
                'tax_amount', l.tax_amount::text) ORDER BY l.id), '[]')
     FROM orders_orderline l WHERE l.order_id = o.id),
    o.total, o.prices_include_tax, o.discount_total, o.shipping_method_name, o.shipping_total,
    o.shipping_tax_rate, o.shipping_tax, o.tax_total
FROM orders_order o JOIN orders_shop s ON s.id = o.shop_id
WHERE o.id = %s
"""


def order_invoice_row(order_id: UUID) -> tuple | None:
    """The order's invoice facts in one row (PostgreSQL only; None if there is no order).

    (id, number, shop_id, currency, subtotal, customer_name, customer_email,
    shipping_address, tax_rate, shop name, contact_email, address, legal_name, tax_id,
    lines as a list of dicts with their amounts as text, total, prices_include_tax,
    discount_total, shipping_method_name, shipping_total, shipping_tax_rate, shipping_tax,
    tax_total).
    """
    rows = _run(_INVOICE_ROW_SQL, [order_id])
    return rows[0] if rows else None


# --- a parcel ----------------------------------------------------------------------------
#: the parcel, its lines and the order's latest carrier and number, in one round trip
_PARCEL_INSERT_SQL = """
WITH parcel AS (
    INSERT INTO orders_shipment (id, order_id, carrier, service, tracking_number, status, eta,
                                 actor, created_at, updated_at)
    VALUES (%(id)s, %(order)s, %(carrier)s, %(service)s, %(tracking_number)s, %(status)s, NULL,
            %(actor)s, %(now)s, %(now)s)
    RETURNING id
), parcel_lines AS (
    INSERT INTO orders_shipmentline (shipment_id, order_line_id, sku, quantity)
    SELECT parcel.id, l.order_line_id, l.sku, l.quantity
    FROM parcel,
         unnest(%(line_ids)b::bigint[], %(skus)b::text[], %(quantities)b::int[])
         WITH ORDINALITY AS l(order_line_id, sku, quantity, n)
    ORDER BY l.n
), latest AS (
    UPDATE orders_order SET carrier = %(carrier)s, tracking_number = %(tracking_number)s,
                            updated_at = %(now)s
    WHERE id = %(order)s
)
SELECT id FROM parcel
"""


def parcel_insert(
    *,
    order: Order,
    carrier: str,
    tracking_number: str,
    service: str,
    actor: str,
    units: list[tuple[OrderLine, int]],
) -> Shipment:
    """Write a parcel holding ``units`` (order line, units) and make it the order's latest
    (``Order.carrier``, ``tracking_number``): one statement on PostgreSQL.

    A number already on the road raises Django's ``IntegrityError`` naming
    ``shipment_unique_parcel_on_the_road``, with nothing written. Updates ``order`` in
    memory.
    """
    now = timezone.now()
    shipment = Shipment(
        order=order,
        carrier=carrier,
        tracking_number=tracking_number,
        service=service,
        actor=actor,
        created_at=now,
        updated_at=now,
    )
    if _postgres():
        _run(
            _PARCEL_INSERT_SQL,
            {
                "id": shipment.id,
                "order": order.pk,
                "carrier": carrier,
                "service": service,
                "tracking_number": tracking_number,
                "status": shipment.status,
                "actor": actor,
                "now": now,
                "line_ids": [line.pk for line, _ in units],
                "skus": [line.sku for line, _ in units],
                "quantities": [quantity for _, quantity in units],
            },
        )
        shipment._state.adding = False
        shipment._state.db = connection.alias
    else:
        shipment.save(force_insert=True)
        ShipmentLine.objects.bulk_create(
            ShipmentLine(shipment=shipment, order_line=line, sku=line.sku, quantity=quantity)
            for line, quantity in units
        )
        Order.objects.filter(pk=order.pk).update(
            carrier=carrier, tracking_number=tracking_number, updated_at=now
        )
    order.carrier, order.tracking_number, order.updated_at = carrier, tracking_number, now
    return shipment
