"""The order documents of ``GET /api/v1/orders/{id}`` and the list come from one serializer per
process (``order_documents``); each must be exactly what a fresh ``OrderOutputSerializer``
gives, for orders in every shape: new, paid and confirmed, discounted, in parcels, refunded,
cancelled, with the shop's own reference and metadata. Orders go through the real saga."""

from decimal import Decimal

import orjson
import pytest

from orderflow.api.renderers import OrjsonRenderer
from orderflow.events.pump import drain
from orders import services
from orders.api import serializers
from orders.api.serializers import OrderOutputSerializer, order_documents
from orders.models import Discount, Order
from orders.services import ShipmentLineInput
from orders.services.carriers import shop_carrier_bind
from orders.services.dispatch import shipment_create
from payments.interface import payment_states
from testkit.factories import STAFF, order_for

pytestmark = pytest.mark.django_db


def _rendered(document) -> dict:
    return orjson.loads(OrjsonRenderer().render(document))


@pytest.fixture
def orders(shop, products):
    """Orders of ``shop`` in many shapes, each through the saga and its events."""
    shop_carrier_bind(shop=shop, carrier="demo-post")
    Discount.objects.create(shop=shop, code="SAVE10", kind="percentage", value=Decimal("10"))
    made = {
        "confirmed": order_for(shop, lines={"COFFEE-1KG": 2, "MUG": 1}),
        "discounted": order_for(shop, lines={"MUG": 2}, discount_codes=["SAVE10"]),
        "referenced": order_for(
            shop, external_reference="shop-77", metadata={"channel": "web", "gift": "yes"}
        ),
        "in-parcels": order_for(shop, lines={"COFFEE-1KG": 1, "FILTER": 3}),
        "cancelled": order_for(shop),
        "declined": order_for(shop, payment_token="tok_declined"),
    }
    drain(max_seconds=30)
    services.order_cancel(order_id=made["cancelled"].pk, shop=None, actor=STAFF)
    parcel = made["in-parcels"]
    shipment_create(
        order_id=parcel.pk, shop=None, actor=STAFF, carrier="demo-post", tracking_number="P-1",
        lines=[ShipmentLineInput(sku="FILTER", quantity=2)],
    )  # fmt: skip
    services.order_ship(
        order_id=parcel.pk, shop=None, actor=STAFF, carrier="demo-post", tracking_number="P-2"
    )
    drain(max_seconds=30)
    made["new"] = order_for(shop)  # placed: its saga not run
    return {name: order.pk for name, order in made.items()}


def _fresh(order_id) -> Order:
    return Order.objects.prefetch_related("lines", "shipments__lines").get(pk=order_id)


def test_every_document_is_the_serializers_own(orders):
    shapes = {_fresh(order_id).status for order_id in orders.values()}
    assert {"placed", "confirmed", "shipped", "cancelled"} <= shapes, shapes
    states = payment_states(order_ids=list(orders.values()))
    assert {state.status for state in states.values()} >= {"captured", "refunded", "failed"}

    for name, order_id in orders.items():
        [document] = order_documents([_fresh(order_id)])
        expected = OrderOutputSerializer(_fresh(order_id)).data
        assert _rendered(document) == _rendered(expected), name


def test_a_page_of_documents_is_the_serializers_own_in_its_order(orders):
    page = list(Order.objects.prefetch_related("lines", "shipments__lines").order_by("number"))
    context = {"payments": payment_states(order_ids=[order.pk for order in page])}

    documents = order_documents(page)

    fresh = list(Order.objects.prefetch_related("lines", "shipments__lines").order_by("number"))
    expected = OrderOutputSerializer(fresh, many=True, context=context).data
    assert _rendered(documents) == _rendered(expected)
    assert [d["shipments"] != [] for d in documents].count(True) == 1


def test_the_shared_serializer_keeps_nothing_of_a_request(orders, api):
    for order_id in orders.values():
        assert api.get(f"/api/v1/orders/{order_id}").status_code == 200
    assert api.get("/api/v1/orders").status_code == 200

    [shared] = serializers._documents
    assert shared.context == {}
    assert getattr(shared, "instance", None) is None


def test_the_api_answers_the_documents(orders, api):
    order_id = orders["in-parcels"]

    detail = api.get(f"/api/v1/orders/{order_id}").json()
    listed = {d["id"]: d for d in api.get("/api/v1/orders").json()["results"]}

    expected = _rendered(OrderOutputSerializer(_fresh(order_id)).data)
    assert detail == expected
    assert listed[str(order_id)] == expected
    assert [parcel["tracking_number"] for parcel in detail["shipments"]] == ["P-1", "P-2"]
