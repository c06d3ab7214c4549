"""The orders context's invariants: one order per request, its event, its history, stock."""

from django.db.models import (
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce

from orderflow.invariants import EXAMPLES, Result, Window, invariant
from orderflow.models import OutboxEvent

from .choices import OrderStatus
from .events import OrderPlaced
from .models import Order, OrderTransition, Product
from .services.stock import held_units


@invariant(
    "orders.one_order_per_key",
    "At most one order per shop and Idempotency-Key: the `order.placed` events of the "
    "window that carry the request's key never share a shop and a key (an order placed "
    "without a key has none to repeat).",
)
def one_order_per_key(window: Window, result: Result) -> None:
    placed = OutboxEvent.objects.filter(
        type=OrderPlaced.type, created_at__gte=window.since
    ).exclude(idempotency_key="")
    keys = placed.values("tenant_id", key=F("idempotency_key")).annotate(orders=Count("pk"))
    repeated = keys.filter(orders__gt=1).order_by("tenant_id", "key")
    result.checked = placed.count()
    result.found(
        repeated.count(),
        (
            f"shop {k['tenant_id']} key {k['key']}: {k['orders']} orders"
            for k in repeated[:EXAMPLES]
        ),
    )


@invariant(
    "orders.placed_event",
    "Every order of the window has its `order.placed` event in the outbox (written in the "
    "order's own transaction, so nothing downstream can miss the order).",
)
def placed_event(window: Window, result: Result) -> None:
    orders = Order.objects.filter(created_at__gte=window.since)
    event = OutboxEvent.objects.filter(
        type=OrderPlaced.type,
        aggregate=OrderPlaced.aggregate,
        aggregate_id=Cast(OuterRef("pk"), CharField()),
    )
    missing = orders.filter(~Exists(event)).order_by("created_at")
    result.checked = orders.count()
    result.found(missing.count(), (f"order {o.pk} ({o.number})" for o in missing[:EXAMPLES]))


@invariant(
    "orders.transition_once",
    "No order of the window entered the same status twice (a transition, and what it "
    "does to stock and payment, is applied once).",
)
def transition_once(window: Window, result: Result) -> None:
    transitions = OrderTransition.objects.filter(order__created_at__gte=window.since)
    repeated = (
        transitions.values("order_id", "to_status")
        .annotate(times=Count("pk"))
        .filter(times__gt=1)
        .order_by("order_id")
    )
    result.checked = transitions.count()
    result.found(
        repeated.count(),
        (
            f"order {t['order_id']} entered {t['to_status']} {t['times']} times"
            for t in repeated[:EXAMPLES]
        ),
    )


@invariant(
    "orders.status_matches_history",
    "Every order's status is where its last recorded transition led (placed if none).",
)
def status_matches_history(window: Window, result: Result) -> None:
    last = (
        OrderTransition.objects.filter(order=OuterRef("pk")).order_by("-id").values("to_status")[:1]
    )
    orders = Order.objects.filter(created_at__gte=window.since).annotate(
        last_to=Coalesce(Subquery(last), Value(OrderStatus.PLACED.value), output_field=CharField())
    )
    astray = orders.exclude(status=F("last_to")).order_by("created_at")
    result.checked = orders.count()
    result.found(
        astray.count(),
        (f"order {o.pk} is {o.status}, its history says {o.last_to}" for o in astray[:EXAMPLES]),
    )


@invariant(
    "orders.stock_balanced",
    "Stock is never negative and adds up: on hand = available + reserved with available "
    "≥ 0, and reserved = the units on the lines of the orders holding stock "
    "(reserved, paid, confirmed) and of a partly shipped order's units not yet in a parcel; "
    "shipped units have left on hand (consumed).",
)
def stock_balanced(window: Window, result: Result) -> None:
    products = Product.objects.annotate(held=held_units())
    unbalanced = products.filter(
        Q(on_hand__lt=0) | Q(reserved__lt=0) | Q(reserved__gt=F("on_hand")) | ~Q(reserved=F("held"))
    ).order_by("pk")
    result.checked = Product.objects.count()
    result.found(
        unbalanced.count(),
        (
            f"product {p.sku} (shop {p.shop_id}): on hand {p.on_hand}, reserved {p.reserved}, "
            f"held by open orders {p.held}"
            for p in unbalanced[:EXAMPLES]
        ),
    )
