"""GET /api/v1/event-types: the declared event contract, with a JSON Schema per type and version."""

import copy

import pytest
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from orderflow.events import event_types
from orderflow.models import OutboxEvent
from orders import services
from testkit.factories import ProductFactory, ShopFactory

pytestmark = pytest.mark.django_db

TYPES = "/api/v1/event-types"


@pytest.fixture
def anonymous() -> APIClient:
    """The contract is public: no key is needed to read it."""
    return APIClient()


def placed_order_row() -> OutboxEvent:
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90")
    ProductFactory(shop=shop, sku="MUG", price="9.90")
    services.order_place(
        shop=shop,
        customer=services.CustomerInput(name="Ana Souza", email="ana@example.com"),
        shipping_address={"line1": "Rua A 1", "city": "Recife", "postal_code": "50000-000"},
        lines=[
            services.LineInput(sku="COFFEE-1KG", quantity=2),
            services.LineInput(sku="MUG", quantity=1),
        ],
    )
    return OutboxEvent.objects.get(type="order.placed")


def order_placed_schema(client: APIClient) -> dict:
    (version,) = client.get(f"{TYPES}/order.placed").json()["versions"]
    return version["schema"]


def test_the_list_holds_every_declared_type_with_a_valid_json_schema(anonymous):
    response = anonymous.get(TYPES)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["type"], r["version"]) for r in results] == sorted(event_types())
    for result in results:
        Draft202012Validator.check_schema(result["schema"])
        assert result["schema"]["title"] == f"{result['type']} v{result['version']}"


def test_the_list_describes_the_orders_contract(anonymous):
    response = anonymous.get(TYPES)

    by_type = {(r["type"], r["version"]): r for r in response.json()["results"]}
    placed, cancelled = by_type[("order.placed", 1)], by_type[("order.cancelled", 1)]
    assert (placed["aggregate"], cancelled["aggregate"]) == ("order", "order")
    assert placed["schema"]["required"] == [
        "order_id",
        "shop_id",
        "number",
        "currency",
        "subtotal",
        "total",
        "customer_name",
        "customer_email",
        "lines",
    ]
    assert cancelled["schema"]["required"] == [
        "order_id",
        "shop_id",
        "number",
        "previous_status",
        "reason",
        "cancelled_by",
    ]


def test_the_detail_lists_the_versions_of_one_type(anonymous):
    response = anonymous.get(f"{TYPES}/order.placed")

    assert response.status_code == 200
    body = response.json()
    listed = next(r for r in anonymous.get(TYPES).json()["results"] if r["type"] == "order.placed")
    assert body == {"type": "order.placed", "versions": [listed]}


def test_an_unknown_type_is_not_found(anonymous):
    response = anonymous.get(f"{TYPES}/order.teleported")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["type"], body["status"]) == ("/api/problems/not-found", 404)


def test_the_schema_accepts_the_data_of_a_real_order_placed_event(anonymous):
    row = placed_order_row()
    validator = Draft202012Validator(order_placed_schema(anonymous))

    assert list(validator.iter_errors(row.data)) == []


@pytest.mark.parametrize(
    ("tamper", "path", "keyword"),
    [
        (lambda data: data.pop("total"), [], "required"),
        (lambda data: data.update(shop_id="7"), ["shop_id"], "type"),
        (lambda data: data["lines"][0].update(quantity="two"), ["lines", 0, "quantity"], "type"),
        (lambda data: data["lines"][1].pop("sku"), ["lines", 1], "required"),
        (lambda data: data.update(lines={"sku": "MUG"}), ["lines"], "type"),
    ],
    ids=["missing total", "shop id as text", "quantity as text", "line without sku", "no list"],
)
def test_the_schema_rejects_a_tampered_copy(anonymous, tamper, path, keyword):
    row = placed_order_row()
    validator = Draft202012Validator(order_placed_schema(anonymous))
    tampered = copy.deepcopy(row.data)
    tamper(tampered)

    errors = list(validator.iter_errors(tampered))

    assert [(list(e.absolute_path), e.validator) for e in errors] == [(path, keyword)]


@pytest.mark.parametrize(
    "event_type",
    [
        "shipment.dispatched",
        "shipment.in_transit",
        "shipment.out_for_delivery",
        "shipment.delivery_failed",
        "shipment.held",
        "shipment.returned_to_sender",
        "shipment.cancelled",
        "shipment.delivered",
    ],
)
def test_each_shipment_event_names_its_parcel_and_its_lines(anonymous, event_type):
    (version,) = anonymous.get(f"{TYPES}/{event_type}").json()["versions"]
    schema = version["schema"]

    # optional, so that events stored before split shipments (#16) stay valid
    assert {"shipment_id", "lines", "service", "eta"} <= set(schema["properties"])
    assert not {"shipment_id", "lines", "service", "eta"} & set(schema["required"])
    line = schema["$defs"]["ShippedLine"]
    assert set(line["properties"]) == {"sku", "quantity", "name"}
    assert line["required"] == ["sku", "quantity"]
    Draft202012Validator(schema).validate(
        {
            "order_id": "9ecfe41b-8a39-47e1-8b81-2aae8cf53595",
            "shop_id": 1,
            "number": "OF-7SR8K4PG",
            "carrier": "DHL",
            "tracking_number": "JD0001",
            "shipment_id": "3f1d2c8e-5b7a-4e0f-9a41-6c2b8d9e7f10",
            "lines": [{"sku": "MUG", "quantity": 1, "name": "Mug"}],
            "status": "partially_shipped",
        }
    )
