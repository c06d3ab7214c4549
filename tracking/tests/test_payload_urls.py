"""The board's rows name each order's staff page as ``reverse`` does, under any script prefix."""

import uuid

import pytest
from django.urls import clear_script_prefix, reverse, set_script_prefix

from tracking.payloads import order_page_url


@pytest.fixture(autouse=True)
def _prefix_restored():
    yield
    clear_script_prefix()


@pytest.mark.parametrize("prefix", ["/", "/shop-ops/", "/a b/"])
def test_an_order_page_url_is_what_reverse_writes(prefix):
    set_script_prefix(prefix)
    for order_id in (uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)):
        assert order_page_url(order_id) == reverse("tracking:order", args=[order_id])
        assert order_page_url(order_id).startswith(prefix.replace(" ", "%20"))
