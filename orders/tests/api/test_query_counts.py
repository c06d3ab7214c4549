"""Each request costs a fixed number of queries, however many lines or orders it touches.

An order in a response costs one query for its payment state (``payment_status``,
``refunded_total``: the payments context's), one per page for a list.

A warm-up request first records the key's ``last_used_at`` (refreshed at most once a
minute), so that the counted request is the steady state every later request pays. The
test's own transaction turns each service's ``atomic`` into a SAVEPOINT/RELEASE pair,
which is counted here; in production those are the (uncounted) BEGIN and COMMIT. The lean
intake's tests run in autocommit, as production does, so their count is the real one.
"""

import pytest

from testkit.factories import ProductFactory, order_for, order_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(shop):
    return [ProductFactory(shop=shop, sku=f"SKU-{i:02}", price="2.50") for i in range(20)]


@pytest.fixture
def warm_api(api, catalog):
    assert api.get("/api/v1/products", {"limit": 1}).status_code == 200
    return api


def _order_body(order_body, line_count: int) -> dict:
    return order_body(lines=[{"sku": f"SKU-{i:02}", "quantity": 1} for i in range(line_count)])


@pytest.fixture
def warm_intake(warm_api, order_body):
    """The lean intake after one order: this process has verified the key (see lean.py)."""
    warm = warm_api.post("/api/v1/orders", _order_body(order_body, 1), format="json")
    assert warm.status_code == 201, warm.content
    return warm_api


# The lean intake runs in autocommit, as in production: its write is one statement, its
# own transaction (inside a test's transaction it would add a SAVEPOINT/RELEASE pair).
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("line_count", [1, 20])
def test_create_costs_two_round_trips(warm_intake, order_body, assert_statements, line_count):
    # the read (key usable, shop, catalog rows); the write (order, lines, outbox row)
    with assert_statements(2):
        response = warm_intake.post(
            "/api/v1/orders", _order_body(order_body, line_count), format="json"
        )

    assert response.status_code == 201, response.content
    assert len(response.json()["lines"]) == line_count


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("line_count", [1, 20])
def test_idempotent_create_costs_two_round_trips(
    warm_intake, order_body, assert_statements, line_count
):
    # the read (with the stored key lookup); the write (lock tried, key row checked again,
    # order, lines, outbox row, key row with the stored response)
    with assert_statements(2):
        response = warm_intake.post(
            "/api/v1/orders",
            _order_body(order_body, line_count),
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"key-{line_count}",
        )

    assert response.status_code == 201, response.content
    assert "Idempotent-Replayed" not in response


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("line_count", [1, 20])
def test_replay_costs_one_round_trip(warm_intake, order_body, assert_statements, line_count):
    body = _order_body(order_body, line_count)
    warm_intake.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="key")

    # the read finds the stored response
    with assert_statements(1):
        response = warm_intake.post(
            "/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="key"
        )

    assert response["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("line_count", [1, 20])
def test_create_through_the_orm_costs_fixed_queries(
    warm_api, order_body, assert_statements, settings, line_count
):
    # the DRF view alone (what answers whatever the lean path hands on): key; savepoint;
    # products; the destination's tax rates; the shop's shipping methods; order; lines (one
    # INSERT); outbox row; release; the order's payment state (payments.interface)
    settings.ORDER_INTAKE_LEAN = False
    with assert_statements(10):
        response = warm_api.post(
            "/api/v1/orders", _order_body(order_body, line_count), format="json"
        )

    assert response.status_code == 201, response.content
    assert len(response.json()["lines"]) == line_count


@pytest.mark.parametrize("order_count", [1, 10])
def test_list_costs_fixed_queries(warm_api, shop, catalog, assert_statements, order_count):
    for _ in range(order_count):
        order_for(shop, lines={f"SKU-{i:02}": 1 for i in range(5)})

    # key, orders page, their lines, their shipments (none: no query for their lines),
    # their payment states (one query for the page)
    with assert_statements(5):
        response = warm_api.get("/api/v1/orders")

    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == order_count
    assert {len(order["lines"]) for order in response.json()["results"]} == {5}


@pytest.mark.parametrize("line_count", [1, 20])
def test_detail_costs_fixed_queries(warm_api, shop, catalog, assert_statements, line_count):
    order = order_for(shop, lines={f"SKU-{i:02}": 1 for i in range(line_count)})

    # key, order, its lines, its payment state (no parcel before it ships: no query)
    with assert_statements(4):
        response = warm_api.get(f"/api/v1/orders/{order.id}")

    assert response.status_code == 200, response.content
    assert len(response.json()["lines"]) == line_count


def test_a_shipped_orders_detail_reads_its_parcels_too(warm_api, shop, assert_statements):
    order = order_in(shop, "shipped", lines={"SKU-00": 1, "SKU-01": 2})

    # key, order, its lines, its parcels, their lines, its payment state
    with assert_statements(6):
        response = warm_api.get(f"/api/v1/orders/{order.id}")

    assert response.status_code == 200, response.content
    [parcel] = response.json()["shipments"]
    assert {line["sku"]: line["quantity"] for line in parcel["lines"]} == {"SKU-00": 1, "SKU-01": 2}


@pytest.mark.parametrize("line_count", [1, 20])
def test_cancel_costs_fixed_queries(warm_api, shop, catalog, assert_statements, line_count):
    order = order_for(shop, lines={f"SKU-{i:02}": 1 for i in range(line_count)})

    # key; savepoint; order locked; conditional status update with its transition history
    # row (one statement); outbox row with its sequence (one statement); release; order
    # and lines read back for the response (a cancelled order has no parcel)
    with assert_statements(9):
        response = warm_api.post(f"/api/v1/orders/{order.id}/cancel")

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("line_count", [1, 20])
def test_cancel_releasing_stock_costs_fixed_queries(
    warm_api, shop, catalog, assert_statements, line_count
):
    order = order_in(shop, "confirmed", lines={f"SKU-{i:02}": 1 for i in range(line_count)})

    # the 9 of a plain cancel, and the release: its products locked in id order; one
    # UPDATE of them all
    with assert_statements(11):
        response = warm_api.post(f"/api/v1/orders/{order.id}/cancel")

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("line_count", [1, 20])
def test_ship_costs_fixed_queries(warm_api, shop, catalog, assert_statements, line_count):
    order = order_in(shop, "confirmed", lines={f"SKU-{i:02}": 1 for i in range(line_count)})

    # key; savepoint; order locked, with the shop's binding to the carrier; the lines with
    # what was shipped of each (kept on the order for the answer); conditional status
    # update with its transition history row; the shipment, its lines and the order's latest
    # carrier and tracking number (one statement); consume: products locked in id order,
    # one UPDATE of them all; outbox row with its sequence; release; the order's shipments
    # and their lines read for the answer (the order and its lines are the service's); its
    # payment state
    with assert_statements(13):
        response = warm_api.post(
            f"/api/v1/orders/{order.id}/ship",
            {"carrier": "DHL", "tracking_number": "JD0002"},
            format="json",
        )

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("action", "status"), [("out-for-delivery", "shipped"), ("deliver", "out_for_delivery")]
)
def test_shipment_steps_cost_fixed_queries(
    warm_api, shop, catalog, assert_statements, action, status
):
    order = order_in(shop, status, lines={f"SKU-{i:02}": 1 for i in range(20)})

    # key; savepoint; order locked; conditional status update with its transition history
    # row; the parcels to move, with their lines (two queries); their status (one UPDATE);
    # outbox row with its sequence; release; order, lines, shipments and their lines read
    # back
    with assert_statements(14):
        response = warm_api.post(f"/api/v1/orders/{order.id}/{action}")

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("product_count", [1, 20])
def test_product_list_costs_fixed_queries(warm_api, catalog, assert_statements, product_count):
    # key, products page
    with assert_statements(2):
        response = warm_api.get("/api/v1/products", {"limit": product_count})

    assert len(response.json()["results"]) == product_count
