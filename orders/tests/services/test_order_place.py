from decimal import Decimal

import pytest
from django.db import transaction

from orderflow.models import OutboxEvent
from orders import services
from orders.exceptions import ExternalReferenceTaken, OrderInputError
from orders.models import Order, OrderLine, Product
from testkit.factories import ProductFactory, order_for

from ..assertions import row_counts

pytestmark = pytest.mark.django_db

ADDRESS = {"line1": "Rua A 1", "city": "São Paulo", "postal_code": "01000-000", "country": "BR"}


def _place(shop, lines: list[tuple[str, int]]) -> Order:
    return services.order_place(
        shop=shop,
        customer=services.CustomerInput(name="Ana Souza", email="ana@example.com"),
        shipping_address=ADDRESS,
        lines=[services.LineInput(sku=sku, quantity=quantity) for sku, quantity in lines],
        payment_token="tok_ok",
    )


def test_writes_the_order_its_lines_and_one_event(shop, products):
    order = _place(shop, [("COFFEE-1KG", 2), ("FILTER", 3)])

    saved = Order.objects.get()
    assert saved.pk == order.pk
    assert (
        saved.shop_id,
        saved.status,
        saved.currency,
        saved.subtotal,
        saved.total,
        saved.customer_name,
        saved.customer_email,
        saved.shipping_address,
        saved.payment_token,
        saved.version,
    ) == (
        shop.id,
        "placed",
        "EUR",
        Decimal("60.30"),
        Decimal("60.30"),
        "Ana Souza",
        "ana@example.com",
        ADDRESS,
        "tok_ok",
        1,
    )
    assert saved.number.startswith("OF-")
    assert list(
        OrderLine.objects.values_list(
            "order_id", "product_id", "sku", "name", "unit_price", "quantity", "line_total"
        )
    ) == [
        (
            order.pk,
            products["COFFEE-1KG"].pk,
            "COFFEE-1KG",
            products["COFFEE-1KG"].name,
            Decimal("24.90"),
            2,
            Decimal("49.80"),
        ),
        (
            order.pk,
            products["FILTER"].pk,
            "FILTER",
            products["FILTER"].name,
            Decimal("3.50"),
            3,
            Decimal("10.50"),
        ),
    ]
    assert Product.objects.get(sku="COFFEE-1KG").reserved == 0


def test_publishes_order_placed_with_the_priced_lines(shop, products):
    order = _place(shop, [("COFFEE-1KG", 2), ("FILTER", 3)])

    event = OutboxEvent.objects.get()
    assert (
        event.type,
        event.version,
        event.aggregate,
        event.aggregate_id,
        event.sequence,
        event.tenant_id,
        event.published_at,
    ) == ("order.placed", 1, "order", str(order.pk), 1, str(shop.id), None)
    assert event.data == {
        "order_id": str(order.pk),
        "shop_id": shop.id,
        "number": order.number,
        "currency": "EUR",
        "subtotal": "60.30",
        "total": "60.30",
        "customer_name": "Ana Souza",
        "customer_email": "ana@example.com",
        "lines": [
            {
                "product_id": products["COFFEE-1KG"].pk,
                "sku": "COFFEE-1KG",
                "name": products["COFFEE-1KG"].name,
                "quantity": 2,
                "unit_price": "24.90",
                "discount_amount": "0.00",
                "line_total": "49.80",
                "tax_rate": "0",
                "tax_amount": "0.00",
            },
            {
                "product_id": products["FILTER"].pk,
                "sku": "FILTER",
                "name": products["FILTER"].name,
                "quantity": 3,
                "unit_price": "3.50",
                "discount_amount": "0.00",
                "line_total": "10.50",
                "tax_rate": "0",
                "tax_amount": "0.00",
            },
        ],
        # the facts: the status after the event, who placed it, what readers show
        "status": "placed",
        "actor": "system",
        "shop_name": shop.name,
        "tracking_token": Order.objects.get(pk=order.pk).tracking_token,
        # the shop's own data, empty when it sent none
        "external_reference": "",
        "metadata": {},
        # pricing: no codes, no shipping method, the shop's rate (0 here) in its prices
        "discount_total": "0.00",
        "discount_codes": [],
        "shipping_method": "",
        "shipping_total": "0.00",
        "tax_total": "0.00",
        "prices_include_tax": True,
        "customer_locale": "en",
        "payment_mode": "charge",
        "shop_email": shop.contact_email,
    }


def test_rounds_each_line_to_the_cent(shop):
    ProductFactory(shop=shop, sku="BEAN", price="0.33")

    order = _place(shop, [("BEAN", 3)])

    assert order.total == Decimal("0.99")
    assert OrderLine.objects.get().line_total == Decimal("0.99")


@pytest.mark.parametrize(
    ("lines", "errors"),
    [
        ([], [("lines", "empty")]),
        ([(f"S{i}", 1) for i in range(101)], [("lines", "max_length")]),
        ([("MUG", 0)], [("lines.0.quantity", "out_of_range")]),
        ([("MUG", 10_001)], [("lines.0.quantity", "out_of_range")]),
        ([("MUG", 1), ("MUG", 1)], [("lines.1.sku", "duplicate_sku")]),
        (
            [("MUG", 1), ("TEAPOT", 1), ("KETTLE", 1)],
            [("lines.1.sku", "unknown_sku"), ("lines.2.sku", "unknown_sku")],
        ),
    ],
)
def test_refuses_invalid_lines_and_writes_nothing(shop, products, lines, errors):
    before = row_counts()

    with pytest.raises(OrderInputError) as refused:
        _place(shop, lines)

    assert [(e.attr, e.code) for e in refused.value.errors] == errors
    assert refused.value.status == 400
    assert row_counts() == before


def test_names_every_unknown_sku(shop, products):
    with pytest.raises(OrderInputError) as refused:
        _place(shop, [("TEAPOT", 1), ("KETTLE", 1)])

    assert refused.value.detail == (
        "lines.0.sku: Unknown SKU 'TEAPOT': it is not in this shop's catalog. (and 1 more)"
    )
    assert [e.detail for e in refused.value.errors] == [
        "Unknown SKU 'TEAPOT': it is not in this shop's catalog.",
        "Unknown SKU 'KETTLE': it is not in this shop's catalog.",
    ]


def test_does_not_sell_another_shops_product(shop, other_shop, products):
    ProductFactory(shop=other_shop, sku="THEIRS")
    before = row_counts()

    with pytest.raises(OrderInputError) as refused:
        _place(shop, [("THEIRS", 1)])

    assert [(e.attr, e.code) for e in refused.value.errors] == [("lines.0.sku", "unknown_sku")]
    assert row_counts() == before


def test_refuses_a_product_priced_in_another_currency(shop, products):
    ProductFactory(shop=shop, sku="IMPORT", currency="USD")
    before = row_counts()

    with pytest.raises(OrderInputError) as refused:
        _place(shop, [("IMPORT", 1)])

    assert [(e.attr, e.code, e.detail) for e in refused.value.errors] == [
        (
            "lines.0.sku",
            "currency_mismatch",
            "SKU 'IMPORT' is priced in USD, the shop sells in EUR.",
        )
    ]
    assert row_counts() == before


def test_keeps_the_shops_reference_and_metadata_and_publishes_them(shop, products):
    order = order_for(shop, external_reference="chk_1", metadata={"channel": "web"})

    saved = Order.objects.get(pk=order.pk)
    assert (saved.external_reference, saved.metadata) == ("chk_1", {"channel": "web"})
    event = OutboxEvent.objects.get(type="order.placed")
    assert (event.data["external_reference"], event.data["metadata"]) == (
        "chk_1",
        {"channel": "web"},
    )


def test_a_taken_reference_raises_naming_the_first_order_and_writes_nothing(shop, products):
    first = order_for(shop, external_reference="chk_1")
    before = row_counts()

    with pytest.raises(ExternalReferenceTaken) as raised:
        order_for(shop, external_reference="chk_1")

    assert (raised.value.status, raised.value.code) == (409, "external-reference-taken")
    assert raised.value.extra == {"order_id": str(first.pk), "order_number": first.number}
    assert raised.value.order_id == first.pk
    assert row_counts() == before


def test_a_taken_reference_leaves_the_callers_transaction_usable(shop, products):
    """Staff intake and the idempotency store place inside their own transaction."""
    order_for(shop, external_reference="chk_1")

    with transaction.atomic():
        with pytest.raises(ExternalReferenceTaken):
            order_for(shop, external_reference="chk_1")
        placed = order_for(shop, external_reference="chk_2")

    assert sorted(Order.objects.values_list("external_reference", flat=True)) == [
        "chk_1",
        "chk_2",
    ]
    assert placed.external_reference == "chk_2"
