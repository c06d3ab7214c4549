"""Fuzz ``POST /api/v1/orders`` through the WSGI application as deployed: the intake served
as a fast route ahead of Django's middleware (``orderflow/api/fast_routes.py``).

``test_api_schema.py`` calls Django's own WSGI handler, where the intake answers from inside
the middleware; here the same cases, checks and shop go through ``orderflow.wsgi``'s
handler, so every generated body meets the fast route first and, when it declines, the full
path behind it.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import settings
from schemathesis import GenerationMode

import tests.fuzz.test_api_schema as base
from orderflow.api.fast_routes import FastRoutesHandler
from tests.fuzz.test_api_schema import fuzz_shop  # noqa: F401 (a fixture)


@pytest.fixture
def fast_wsgi_app(db, settings):
    """As ``test_api_schema.wsgi_app``, with the fast routes' handler."""
    settings.API_RATE_LIMIT = ""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    application = FastRoutesHandler()
    assert application._fast_middleware is not None, "the fast route would be off"
    try:
        yield application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def fast_api_schema(fast_wsgi_app):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", fast_wsgi_app)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=base.MAX_EXAMPLES,
        with_security_parameters=False,
    )
    return schema


schema = schemathesis.pytest.from_fixture("fast_api_schema").include(operation_id="orders_create")


@schema.parametrize()
@settings(derandomize=True, database=None, deadline=None, max_examples=base.MAX_EXAMPLES)
def test_the_intake_as_a_fast_route_answers_as_its_schema_says(case, fuzz_shop):  # noqa: F811
    base._aim_at_the_shop(case, fuzz_shop)
    headers = {"Authorization": f"Bearer {fuzz_shop.key}"}

    with transaction.atomic():
        response = case.call(headers=headers)
        transaction.set_rollback(True)

    case.validate_response(response, checks=base.CHECKS, headers=headers)
