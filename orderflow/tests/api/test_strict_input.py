"""Every input serializer of the API refuses unknown fields, and the schema says so."""

import pytest
import yaml
from django.test import Client
from django.urls import get_resolver
from rest_framework import serializers

from orderflow.api.serializers import StrictInputSerializer


class LineInputSerializer(StrictInputSerializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1)
    id = serializers.IntegerField(read_only=True)


class BasketInputSerializer(StrictInputSerializer):
    name = serializers.CharField()
    lines = LineInputSerializer(many=True)


def _all_subclasses(cls) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def _errors(serializer) -> dict:
    assert not serializer.is_valid()
    return {name: [(str(e), e.code) for e in errors] for name, errors in serializer.errors.items()}


def test_names_each_unknown_field_with_its_own_code():
    serializer = BasketInputSerializer(
        data={"name": "x", "lines": [{"sku": "A", "quantity": 1}], "colour": 1, "size": 2}
    )

    assert _errors(serializer) == {
        "colour": [("Unknown field 'colour'.", "unknown_field")],
        "size": [("Unknown field 'size'.", "unknown_field")],
    }


def test_names_unknown_fields_of_nested_items_beside_their_other_errors():
    serializer = BasketInputSerializer(
        data={"name": "", "lines": [{"sku": "A", "quantity": 0, "price": "1.00"}]}
    )

    assert not serializer.is_valid()
    assert serializer.errors["name"][0].code == "blank"
    assert {
        name: [e.code for e in errors] for name, errors in serializer.errors["lines"][0].items()
    } == {"quantity": ["min_value"], "price": ["unknown_field"]}


def test_a_read_only_field_sent_in_a_body_is_unknown():
    serializer = LineInputSerializer(data={"sku": "A", "quantity": 1, "id": 7})

    assert _errors(serializer) == {"id": [("Unknown field 'id'.", "unknown_field")]}


def test_a_body_with_only_known_fields_is_valid():
    serializer = BasketInputSerializer(data={"name": "x", "lines": [{"sku": "A", "quantity": 2}]})

    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {"name": "x", "lines": [{"sku": "A", "quantity": 2}]}


def test_every_input_serializer_of_the_api_is_strict():
    get_resolver().url_patterns  # noqa: B018  (imports every API module the URLs name)
    inputs = {
        cls
        for cls in _all_subclasses(serializers.Serializer)
        if cls.__name__.endswith("InputSerializer")
        and cls.__module__.split(".")[0] in {"orders", "payments", "tracking", "notifications"}
        and ".api." in cls.__module__
    }

    assert len(inputs) >= 14
    assert [cls.__name__ for cls in inputs if not issubclass(cls, StrictInputSerializer)] == []


@pytest.mark.django_db
def test_the_schema_closes_each_strict_request_body_to_other_properties():
    schemas = yaml.safe_load(Client().get("/api/schema/").content)["components"]["schemas"]

    for name in [
        "OrderCreateInputRequest",
        "OrderCustomerInputRequest",
        "ShippingAddressRequest",
        "OrderLineInputRequest",
        "OrderShipInputRequest",
        "ProductCreateInputRequest",
        "PatchedProductUpdateInputRequest",
        "WebhookEndpointCreateInputRequest",
    ]:
        assert schemas[name]["additionalProperties"] is False, name
    # an output shape is not closed: a response may gain fields without breaking clients
    assert "additionalProperties" not in schemas["ShippingAddress"]


def test_strings_are_taken_as_sent_so_their_limits_are_the_schemas():
    class NameInputSerializer(StrictInputSerializer):
        name = serializers.CharField(max_length=3)
        tags = serializers.ListField(child=serializers.CharField(max_length=2))

    padded = NameInputSerializer(data={"name": " ab ", "tags": ["a "]})
    exact = NameInputSerializer(data={"name": "ab ", "tags": ["a "]})

    assert not padded.is_valid()
    assert [e.code for e in padded.errors["name"]] == ["max_length"]
    assert exact.is_valid(), exact.errors
    assert exact.validated_data == {"name": "ab ", "tags": ["a "]}


@pytest.mark.django_db
def test_the_schema_gives_free_text_the_pattern_of_what_can_be_stored():
    schemas = yaml.safe_load(Client().get("/api/schema/").content)["components"]["schemas"]
    customer = schemas["OrderCustomerInputRequest"]["properties"]
    endpoint = schemas["WebhookEndpointCreateInputRequest"]["properties"]

    assert customer["name"]["pattern"] == r"^[^\x00\ud800-\udfff]*$"
    assert endpoint["event_types"]["items"]["pattern"] == r"^[^\x00\ud800-\udfff]*$"
    # a string with a pattern or format of its own keeps it
    assert "pattern" not in customer["email"]
    assert schemas["ShippingAddressRequest"]["properties"]["country"]["pattern"] == "^[A-Z]{2}$"
