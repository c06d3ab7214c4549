"""The orjson renderer writes what DRF's JSONRenderer writes, byte for byte."""

import datetime
import uuid
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from orderflow.api.renderers import OrjsonRenderer

PAYLOAD = {
    "id": uuid.UUID("9ecfe41b-8a39-47e1-8b81-2aae8cf53595"),
    "total": "59.70",
    "rate": Decimal("0.23"),
    "city": "São Paulo",
    "separators": "a\u2028b\u2029c",
    "created_at": datetime.datetime(2026, 11, 25, 10, 53, 32, 345268, tzinfo=datetime.UTC),
    "day": datetime.date(2026, 11, 25),
    "title": gettext_lazy("Invalid input"),
    "lines": [{"sku": "COFFEE-1KG", "quantity": 2}],
    "none": None,
    1: "an integer key",
}


def test_renders_the_same_bytes_as_drf():
    assert OrjsonRenderer().render(PAYLOAD) == JSONRenderer().render(PAYLOAD)


@pytest.mark.parametrize("media_type", ["application/json; indent=4", "application/json"])
def test_indent_requests_match_drf(media_type):
    context = {}
    assert OrjsonRenderer().render(PAYLOAD, media_type, context) == JSONRenderer().render(
        PAYLOAD, media_type, context
    )


def test_renders_nothing_for_no_data():
    assert OrjsonRenderer().render(None) == b""
