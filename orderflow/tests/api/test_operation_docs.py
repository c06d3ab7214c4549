"""Every operation of the shops' API is documented in words, with examples that hold.

ReDoc and Swagger UI title an operation by its ``summary`` and fall back to its
``operationId`` (``carrier_events_create``); a reader needs the summary, a description and,
where a body goes in or JSON comes out, an example of each. These tests walk the schema
served at ``/api/schema/``, so an operation added without them fails here, and every
example is checked against the schema it illustrates, so an example cannot drift from what
the API takes and answers.
"""

import json

import jsonschema
import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

METHODS = ("get", "put", "post", "patch", "delete")
JSON = "application/json"


@pytest.fixture
def schema() -> dict:
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def _json_successes(operation: dict) -> dict:
    """The 2xx responses of the operation that carry a JSON body, by status."""
    return {
        status: response["content"][JSON]
        for status, response in operation["responses"].items()
        if status.startswith("2") and JSON in response.get("content", {})
    }


def _examples(media: dict) -> list:
    return [example["value"] for example in media.get("examples", {}).values()]


def test_every_operation_has_a_summary_and_a_description(schema):
    missing = [
        f"{name}: {part}"
        for name, operation in _operations(schema)
        for part in ("summary", "description")
        if not operation.get(part, "").strip()
    ]

    assert missing == []


def test_every_body_and_json_answer_has_an_example(schema):
    missing = []
    for name, operation in _operations(schema):
        body = operation.get("requestBody", {}).get("content", {}).get(JSON)
        if body is not None and not _examples(body):
            missing.append(f"{name}: request")
        answers = _json_successes(operation)
        if answers and not any(_examples(media) for media in answers.values()):
            missing.append(f"{name}: response")

    assert missing == []


def test_every_example_matches_the_schema_it_illustrates(schema):
    components = _json_schema(schema["components"])
    wrong = []
    for name, operation in _operations(schema):
        media = [("request", operation.get("requestBody", {}).get("content", {}).get(JSON))]
        media += [(status, content) for status, content in _json_successes(operation).items()]
        for where, content in media:
            if content is None:
                continue
            validator = jsonschema.Draft202012Validator(
                {**_json_schema(content["schema"]), "components": components}
            )
            for title, example in content.get("examples", {}).items():
                for error in validator.iter_errors(example["value"]):
                    path = "/".join(str(part) for part in error.absolute_path)
                    wrong.append(f"{name} {where} {title} at /{path}: {error.message}")

    assert wrong == []


def _json_schema(node):
    """Read OpenAPI 3.0's ``nullable`` as JSON Schema's null type, everywhere in ``node``."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted
