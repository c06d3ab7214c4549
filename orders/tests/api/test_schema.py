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
    assert sorted(order_input) == ["customer", "lines", "payment", "shipping_address"]


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
    assert all(asset.startswith("/static/") for asset in assets), assets
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
