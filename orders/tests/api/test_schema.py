import re

import pytest
import yaml
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from orderflow.api import schema as schema_module

pytestmark = pytest.mark.django_db

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def test_serves_the_openapi_schema_without_a_key():
    response = Client().get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    schema = yaml.safe_load(response.content)
    assert schema["info"]["title"] == "OrderFlow API"
    assert {
        "/api/v1/orders",
        "/api/v1/orders/{order_id}",
        "/api/v1/orders/{order_id}/cancel",
        "/api/v1/products",
        "/api/v1/products/{sku}",
    } <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["shopApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A shop API key, as printed once by `manage.py create_shop`.",
    }


def test_schema_documents_each_order_and_product_operation():
    schema = yaml.safe_load(Client().get("/api/schema/").content)

    operations = {
        (path, method): operation["operationId"]
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    # other contexts add their own paths; these are the orders context's
    assert {
        ("/api/v1/orders", "get"): "orders_list",
        ("/api/v1/orders", "post"): "orders_create",
        ("/api/v1/orders/{order_id}", "get"): "orders_retrieve",
        ("/api/v1/orders/{order_id}/cancel", "post"): "orders_cancel",
        ("/api/v1/products", "get"): "products_list",
        ("/api/v1/products", "post"): "products_create",
        ("/api/v1/products/{sku}", "get"): "products_retrieve",
        ("/api/v1/products/{sku}", "patch"): "products_partial_update",
    }.items() <= operations.items()
    create = schema["paths"]["/api/v1/orders"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in create["parameters"]]
    assert sorted(create["responses"]) == ["201", "400", "401", "409", "413", "415", "422", "429"]
    order_input = schema["components"]["schemas"]["OrderCreateInputRequest"]["properties"]
    assert sorted(order_input) == [
        "customer",
        "discount_codes",
        "external_reference",
        "lines",
        "metadata",
        "payment",
        "shipping_address",
        "shipping_method",
    ]


def test_schema_documents_each_error_an_operation_can_answer_as_a_problem():
    schema = yaml.safe_load(Client().get("/api/schema/").content)
    paths = schema["paths"]

    detail = paths["/api/v1/orders/{order_id}"]["get"]["responses"]
    listing = paths["/api/v1/products"]["get"]["responses"]
    event_types = paths["/api/v1/event-types"]["get"]["responses"]

    # a retrieve answered 404 for an unknown id while documenting only 200 (found by the fuzz)
    assert sorted(detail) == ["200", "401", "404", "429"]
    # a forged cursor is a 400 naming it, like any other bad parameter
    assert sorted(listing) == ["200", "400", "401", "429"]
    assert sorted(event_types) == ["200"]
    for status in ["401", "404", "429"]:
        assert detail[status]["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    problem = schema["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail", "errors"]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_use_only_local_static_assets(path):
    client = Client()

    response = client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assets = ASSET.findall(html)
    assert assets
    # the sidecar's files, and ReDoc's bundle without its CDN logo (orderflow/api/docs.py)
    assert all(asset.startswith(("/static/", "/api/redoc/")) for asset in assets), assets
    assert "https://" not in html
    assert "http://" not in html
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_docs_point_at_the_local_schema():
    html = Client().get("/api/redoc/").content.decode()

    assert "/api/schema/" in html


def test_the_schema_is_built_once_per_process_not_per_request(monkeypatch):
    schema_module._forget_schemas()
    builds = []
    build = SchemaGenerator.get_schema

    def counting(self, *args, **kwargs):
        builds.append(1)
        return build(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counting)

    first = Client().get("/api/schema/")
    second = Client().get("/api/schema/")
    as_json = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    other_lang = Client().get("/api/schema/?lang=xx-not-a-language")

    assert len(builds) == 1
    assert first.content == second.content == other_lang.content
    assert as_json.json() == yaml.safe_load(first.content)


def _schema() -> dict:
    return yaml.safe_load(Client().get("/api/schema/").content)


def test_each_create_links_its_id_to_every_operation_on_what_it_created():
    paths = _schema()["paths"]

    def links(path):
        return paths[path]["post"]["responses"]["201"]["links"]

    assert {name: link["parameters"] for name, link in links("/api/v1/orders").items()} == {
        name: {"order_id": "$response.body#/id"}
        for name in [
            "orders_retrieve",
            "orders_cancel",
            "orders_cancel_remainder",
            "orders_deliver",
            "orders_invoice_retrieve",
            "orders_out_for_delivery",
            "orders_partial_update",
            "orders_refunds_create",
            "orders_refunds_list",
            "orders_returns_create",
            "orders_returns_list",
            "orders_ship",
            "orders_shipments_create",
            "orders_shipments_list",
            "orders_tracking",
        ]
    }
    assert sorted(links("/api/v1/webhook-endpoints")) == [
        "webhook_deliveries_list",
        "webhook_endpoints_destroy",
        "webhook_endpoints_partial_update",
        "webhook_endpoints_replay",
        "webhook_endpoints_retrieve",
        "webhook_endpoints_rotate_secret",
        "webhook_endpoints_test",
    ]
    assert {name: link["parameters"] for name, link in links("/api/v1/products").items()} == {
        "products_retrieve": {"sku": "$response.body#/sku"},
        "products_partial_update": {"sku": "$response.body#/sku"},
    }
    for link in links("/api/v1/orders").values():
        assert link["operationId"] in {
            op["operationId"] for item in paths.values() for op in item.values()
        }


def test_the_schema_states_the_bounds_the_api_checks():
    schema = _schema()
    components, paths = schema["components"]["schemas"], schema["paths"]

    def query(path, name):
        parameters = paths[path]["get"]["parameters"]
        return next(p["schema"] for p in parameters if p["name"] == name)

    lines = components["OrderCreateInputRequest"]["properties"]["lines"]
    assert (lines["minItems"], lines["maxItems"]) == (1, 100)
    assert components["ProductCreateInputRequest"]["properties"]["price"] == {
        "type": "string",
        "format": "decimal",
        "pattern": r"^[0-9]{1,10}(\.[0-9]{1,2})?$",
        "example": "9.90",
    }
    assert query("/api/v1/orders", "limit") == {"type": "integer", "minimum": 1, "maximum": 200}
    assert query("/api/v1/products", "limit") == {"type": "integer", "minimum": 1, "maximum": 500}
    assert query("/api/v1/events", "after") == {
        "type": "integer",
        "minimum": 0,
        "maximum": 2**63 - 1,
    }
    assert "order.placed" in query("/api/v1/events", "type")["items"]["enum"]
    # an undocumented input does not borrow its base class's docstring
    assert "description" not in components["OrderLineInputRequest"]


def test_the_schema_states_the_rules_of_the_shops_own_data():
    schema = _schema()
    components, paths = schema["components"]["schemas"], schema["paths"]
    order_input = components["OrderCreateInputRequest"]["properties"]
    update = paths["/api/v1/orders/{order_id}"]["patch"]

    metadata = order_input["metadata"]
    assert (metadata["type"], metadata["maxProperties"]) == ("object", 50)
    assert metadata["additionalProperties"]["type"] == "string"
    assert metadata["additionalProperties"]["maxLength"] == 500
    reference = order_input["external_reference"]
    assert (reference["minLength"], reference["maxLength"]) == (1, 100)
    assert "external_reference" not in components["OrderCreateInputRequest"].get("required", [])
    assert update["operationId"] == "orders_partial_update"
    update_body = update["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    update_input = components[update_body.rsplit("/", 1)[1]]
    # PATCH: what is left out stays as it is
    assert (list(update_input["properties"]), update_input.get("required")) == (["metadata"], None)
    assert update_input["additionalProperties"] is False
    assert sorted(update["responses"]) == ["200", "400", "401", "404", "413", "415", "429"]
    listed = {p["name"]: p["schema"] for p in paths["/api/v1/orders"]["get"]["parameters"]}
    assert listed["updated_after"] == {"type": "string", "format": "date-time"}
    assert listed["number"]["type"] == listed["external_reference"]["type"] == "string"
    output = components["OrderOutput"]["properties"]
    assert {"metadata", "external_reference", "status_reason"} <= set(output)
    assert schema["paths"]["/api/v1/orders"]["post"]["responses"]["409"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
