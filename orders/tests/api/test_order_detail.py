import uuid

import pytest

from testkit.factories import ProductFactory, advance, order_for

from ..assertions import assert_problem

pytestmark = pytest.mark.django_db


def test_shows_the_shops_order(api, shop, products):
    order = order_for(shop, lines={"COFFEE-1KG": 1, "FILTER": 4})

    response = api.get(f"/api/v1/orders/{order.id}")

    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["id"], data["number"], data["status"], data["total"]) == (
        str(order.id),
        order.number,
        "placed",
        "38.90",
    )
    assert [(line["sku"], line["quantity"], line["line_total"]) for line in data["lines"]] == [
        ("COFFEE-1KG", 1, "24.90"),
        ("FILTER", 4, "14.00"),
    ]
    assert data["customer"] == {"name": "Ana Souza", "email": "ana@example.com", "locale": "en"}


@pytest.mark.parametrize(
    ("status", "actions"),
    [
        ("placed", ["cancel"]),
        ("confirmed", ["cancel", "ship"]),
        ("shipped", ["out_for_delivery", "deliver"]),
        ("delivered", []),
        ("cancelled", []),
    ],
)
def test_shows_what_may_be_done_in_the_orders_state(api, shop, products, status, actions):
    order = advance(order_for(shop), to=status)

    response = api.get(f"/api/v1/orders/{order.id}")

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["allowed_actions"]) == (status, actions)


def test_hides_another_shops_order(api, other_shop):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")
    theirs = order_for(other_shop)

    response = api.get(f"/api/v1/orders/{theirs.id}")

    assert_problem(response, status=404, type_slug="not-found")
    assert response.json() == {
        "type": "/api/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No such order.",
        "instance": f"/api/v1/orders/{theirs.id}",
        "correlation_id": response["X-Correlation-ID"],
        "errors": [],
    }


@pytest.mark.parametrize("order_id", ["not-a-uuid", "12345", str(uuid.uuid4())])
def test_answers_404_for_an_id_that_names_no_order(api, shop, products, order_id):
    order_for(shop)

    response = api.get(f"/api/v1/orders/{order_id}")

    body = assert_problem(response, status=404, type_slug="not-found")
    assert body["detail"] == "No such order."
