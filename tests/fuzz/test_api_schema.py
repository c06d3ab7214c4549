"""Fuzz the shops' API against its own OpenAPI schema, in process, on the test database.

Schemathesis reads ``/api/schema/`` from the WSGI application and calls every operation
in it with a valid shop key, through the WSGI application itself (no server, no socket):
each example runs in a savepoint of the test's transaction, rolled back after it. Every
response must not be a 5xx, must have a status code, a content type and a body that the
schema documents, and a request that breaks the schema (negative mode) must get a 4xx.

What is fuzzed, and what is not:

- every operation of the schema that a shop key opens: orders and their actions,
  products, the event feed and event types, invoices, tracking, webhook endpoints and
  deliveries. The shop has a catalog and a placed order, and valid cases are aimed at
  them (see ``_aim_at_the_shop``), so that they place orders, cancel, ship and patch real
  rows instead of meeting a 404 every time.
- ``POST /api/v1/carrier-events`` is left out: carriers sign each body with an HMAC of
  their own secret (``carrierSignature``), which no generated request can carry, so every
  case would stop at the 401 before reaching the code under test; its own tests cover it.
- staff pages, the admin and the WebSocket routes are not in the schema, so not here.

The shop's rate limit is lifted for the run (the fuzz sends far more than 1000 requests a
minute; the limit has its own tests), and each valid request gets a fresh Idempotency-Key,
so that examples never replay each other; invalid ones keep the key generated for them.

Bounded and reproducible for CI: Hypothesis is derandomized (the same examples every run,
nothing read from or saved to an example database) and makes ``MAX_EXAMPLES`` per operation
and mode; the module takes about a minute on the 2-core CI machine. A failure prints the
check, the response and a curl command to replay it.
"""

import uuid
from dataclasses import dataclass

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from orders.tests.factories import ProductFactory, ShopFactory, api_key_for, order_for

IDEMPOTENCY_HEADER = "Idempotency-Key"
#: The shop's catalog (SKU -> price); valid order bodies are aimed at it.
CATALOG = {"COFFEE-1KG": "24.90", "MUG": "9.90", "FILTER": "3.50", "TEA-1KG": "18.50"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
#: Examples per operation and generation mode; the whole module stays within ~90 s on CI.
MAX_EXAMPLES = 50


@dataclass(frozen=True)
class FuzzShop:
    key: str
    order_id: str


@pytest.fixture
def fuzz_shop(db) -> FuzzShop:
    """A shop with a catalog and one placed order, and its API key."""
    shop = ShopFactory()
    for sku, price in CATALOG.items():
        ProductFactory(shop=shop, sku=sku, price=price, on_hand=1_000_000)
    order = order_for(shop, lines={"COFFEE-1KG": 1})
    return FuzzShop(key=api_key_for(shop), order_id=str(order.id))


@pytest.fixture
def wsgi_app(db, settings):
    """The project's WSGI application, called in this thread on the test's connection.

    Django closes a connection whose autocommit differs from its settings at each
    request's start and end, which inside the test's transaction would end it; the test
    client unhooks that handler for the same reason, and so does this fixture.
    """
    settings.API_RATE_LIMIT = ""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_app):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        with_security_parameters=False,
    )
    return schema


schema = schemathesis.pytest.from_fixture("api_schema").exclude(
    operation_id="carrier_events_create"
)


def _aim_at_the_shop(case, shop: FuzzShop) -> None:
    """Point a valid case at the shop's own order, products and catalog SKUs.

    Generated ids and SKUs name nothing that exists, so valid cases would only ever see a
    404 or an ``unknown_sku``; aimed at real data they reach the state machine, the stock
    rules and intake. Invalid (negative) cases keep what was generated: they must be
    refused however they are aimed.
    """
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return
    path_parameters = case.path_parameters or {}
    if "order_id" in path_parameters:
        path_parameters["order_id"] = shop.order_id
    if "sku" in path_parameters:
        path_parameters["sku"] = next(iter(CATALOG))
    if case.operation.label == "POST /api/v1/orders" and isinstance(case.body, dict):
        lines = case.body.get("lines")
        for line, sku in zip(lines if isinstance(lines, list) else [], CATALOG, strict=False):
            if isinstance(line, dict):
                line["sku"] = sku
    if IDEMPOTENCY_HEADER in {p.name for p in case.operation.headers}:
        # one key per request, so that no example replays or collides with another
        case.headers = {**(case.headers or {}), IDEMPOTENCY_HEADER: str(uuid.uuid4())}


@schema.parametrize()
@settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=MAX_EXAMPLES,
)
def test_every_operation_answers_as_its_schema_says(case, fuzz_shop):
    _aim_at_the_shop(case, fuzz_shop)
    headers = {"Authorization": f"Bearer {fuzz_shop.key}"}

    # each example in its own savepoint, rolled back: examples never see each other's
    # writes, and one that breaks the transaction cannot fail the ones after it
    with transaction.atomic():
        response = case.call(headers=headers)
        transaction.set_rollback(True)

    case.validate_response(response, checks=CHECKS, headers=headers)
