"""Fuzz the shops' API against its own OpenAPI schema, in process, on the test database.

Schemathesis reads ``/api/schema/`` from the WSGI application and calls every operation
in it with a valid shop key, through the WSGI application itself (no server, no socket):
each example runs in a savepoint of the test's transaction, rolled back after it. Every
response must not be a 5xx, must have a status code, a content type and a body that the
schema documents, and a request that breaks the schema (negative mode) must get a 4xx.
Two tests: each operation alone (schemathesis's examples, coverage and fuzzing phases,
valid and invalid data), and the stateful phase, chains of calls along the schema's links
(an order or endpoint created, then acted on with the id its response carried).

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

The shop's rate limit and its webhook test and replay budget are lifted for the run (the
fuzz sends far more than 1000 requests a minute; both limits have their own tests), and
each valid request gets a fresh Idempotency-Key, so that examples never replay each other;
invalid ones keep the key generated for them.

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
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from testkit.factories import ProductFactory, ShopFactory, api_key_for, order_for

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
#: Stateful scenarios (chains of linked calls) and the longest chain in each.
STATEFUL_SCENARIOS = 60
STATEFUL_MAX_STEPS = 8
#: a public address (never called: each scenario is rolled back before anything is sent)
WEBHOOK_URL = "https://93.184.216.34/fuzz"


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
    settings.WEBHOOK_ACTIONS_PER_MINUTE = 0  # webhook test and replay: no budget either
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


def _aim_body_at_the_shop(case) -> None:
    """Give a valid body the shop's SKUs and a public webhook URL; leave ids to the links.

    Generated SKUs and URLs name nothing that exists or may be called, so the orders and
    endpoints whose ids the links carry would never be created. Path parameters are not
    touched here: in a scenario they come from an earlier response.
    """
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return
    if not isinstance(case.body, dict):
        return
    if case.operation.label == "POST /api/v1/orders":
        lines = case.body.get("lines")
        for line, sku in zip(lines if isinstance(lines, list) else [], CATALOG, strict=False):
            if isinstance(line, dict):
                line["sku"] = sku
    if case.operation.label == "POST /api/v1/webhook-endpoints":
        case.body["url"] = WEBHOOK_URL
        case.body.pop("event_types", None)


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


def test_linked_operations_answer_as_their_schema_says(api_schema, fuzz_shop):
    """Chain calls as the schema's links allow: create an order, then act on the id it got.

    The stateful phase reaches what single calls cannot: an order or endpoint created in
    one step is cancelled, shipped, fetched, tested or replayed in the next, with the id
    the first response carried. Each scenario runs in its own savepoint, rolled back after
    it, so scenarios never see each other's writes.
    """
    machine_class = api_schema.exclude(operation_id="carrier_events_create").as_state_machine()
    headers = {"Authorization": f"Bearer {fuzz_shop.key}"}

    class ShopScenario(machine_class):
        def setup(self):
            self.savepoint = transaction.atomic()
            self.savepoint.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self.savepoint.__exit__(None, None, None)

        def before_call(self, case):
            _aim_body_at_the_shop(case)
            if IDEMPOTENCY_HEADER in {p.name for p in case.operation.headers}:
                case.headers = {**(case.headers or {}), IDEMPOTENCY_HEADER: str(uuid.uuid4())}

        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, headers=headers)

    ShopScenario.run(
        settings=settings(
            derandomize=True,
            database=None,
            deadline=None,
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_MAX_STEPS,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
    )
