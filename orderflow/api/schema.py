"""The error half of the OpenAPI schema: which problems each operation may answer, and their shape.

Views declare their own outcomes (``201``, ``409`` for a refused transition, ...). The
errors that come from the shared machinery rather than from a view are the same for every
operation, so this drf-spectacular post-processing hook adds them where they apply, and
gives every 4xx and 5xx the ``application/problem+json`` body that
:mod:`orderflow.api.problems` renders:

- ``400`` where the operation reads a body or query parameters (both are validated);
- ``401`` and ``429`` where a shop key is required (the key check, the per-shop rate);
- ``404`` where the path names a resource (another shop's is a 404 too);
- ``413`` and ``415`` where the operation reads a body (the size cap, JSON only);
- ``409`` and ``422`` where it takes an ``Idempotency-Key`` (the same key in flight, or
  reused with another request).

It also marks each optional single-valued query parameter ``allowEmptyValue``: ``?email=``
is read as no filter at all, as django-filter and the pagination read every empty value.
"""

import threading

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import translation
from drf_spectacular.views import SpectacularAPIView
from rest_framework.response import Response

from orderflow.events import event_types

from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .problems import CONTENT_TYPE, PROBLEM_TYPES

PROBLEM_COMPONENT = "Problem"
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem document; some types add members (e.g. "
    "`allowed_actions` on `invalid-transition`).",
    "properties": {
        "type": {"type": "string", "description": "A URI reference naming the problem type."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "correlation_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "attr": {"type": "string", "nullable": True},
                    "code": {"type": "string"},
                    "detail": {"type": "string"},
                },
                "required": ["attr", "code", "detail"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "errors"],
}
_SHOP_KEY = "shopApiKey"
_METHODS = {"get", "put", "post", "patch", "delete"}


def add_problem_responses(result: dict, generator, request, public) -> dict:
    """Document the shared error responses of every operation (a POSTPROCESSING_HOOKS entry)."""
    result.setdefault("components", {}).setdefault("schemas", {})[PROBLEM_COMPONENT] = (
        PROBLEM_SCHEMA
    )
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            for parameter in operation.get("parameters", []):
                if _optional_scalar_query(parameter):
                    parameter["allowEmptyValue"] = True
            responses = operation.setdefault("responses", {})
            for status in _shared_statuses(path, operation):
                responses.setdefault(str(status), {})
            for status, response in responses.items():
                if status[0] in "45" and "content" not in response:
                    response["content"] = {
                        CONTENT_TYPE: {
                            "schema": {"$ref": f"#/components/schemas/{PROBLEM_COMPONENT}"}
                        }
                    }
                    response.setdefault("description", "")
                if status[0] in "45" and not response.get("description"):
                    response["description"] = _description(int(status))
    return result


def _optional_scalar_query(parameter: dict) -> bool:
    return (
        parameter.get("in") == "query"
        and not parameter.get("required")
        and parameter.get("schema", {}).get("type") != "array"
    )


def _shared_statuses(path: str, operation: dict) -> list[int]:
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    statuses = []
    if has_body or any(p.get("in") == "query" for p in parameters):
        statuses.append(400)
    if any(_SHOP_KEY in requirement for requirement in operation.get("security", [])):
        statuses += [401, 429]
    if "{" in path:
        statuses.append(404)
    if has_body:
        statuses += [413, 415]
    if any(p.get("in") == "header" and p.get("name") == IDEMPOTENCY_HEADER for p in parameters):
        statuses += [409, 422]
    return statuses


def _description(status: int) -> str:
    titles = [p.title for p in PROBLEM_TYPES.values() if p.status == status]
    return "; ".join(dict.fromkeys(titles)) or "An RFC 9457 problem document."


#: the resources a POST creates, by collection path: the path parameter naming one, and
#: where the create's 201 body carries its value
_CREATED_RESOURCES = {
    "/api/v1/orders": ("order_id", "$response.body#/id"),
    "/api/v1/products": ("sku", "$response.body#/sku"),
    "/api/v1/webhook-endpoints": ("endpoint_id", "$response.body#/id"),
}


def add_event_type_enum(result: dict, generator, request, public) -> dict:
    """List the declared event types as the enum of the feed's ``type`` filter.

    The feed refuses any other type (400), so the schema names them; they are read from
    the registry when the schema is built, once every context has declared its own.
    """
    operation = result.get("paths", {}).get("/api/v1/events", {}).get("get", {})
    names = sorted({name for name, _ in event_types()})
    for parameter in operation.get("parameters", []):
        if parameter.get("name") == "type" and parameter.get("in") == "query":
            parameter["schema"]["items"]["enum"] = names
    return result


def add_links(result: dict, generator, request, public) -> dict:
    """Link each create's 201 to every operation on what it created (a POSTPROCESSING_HOOKS entry).

    drf-spectacular has no notion of OpenAPI links. Without them a client generator, or a
    stateful fuzzer, cannot know that the ``id`` of ``POST /orders`` is the ``order_id`` of
    ``GET /orders/{order_id}``, ``/ship``, ``/cancel``, ``/tracking``…, and those
    operations only ever met unknown ids (404).
    """
    paths = result.get("paths", {})
    for collection, (parameter, expression) in _CREATED_RESOURCES.items():
        created = paths.get(collection, {}).get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        prefix = f"{collection}/{{{parameter}}}"
        links = {
            operation["operationId"]: {
                "operationId": operation["operationId"],
                "parameters": {parameter: expression},
                "description": f"`{parameter}` of `{method.upper()} {path}` is this "
                f"resource's `{expression.rsplit('/', 1)[-1]}`.",
            }
            for path, item in paths.items()
            if path == prefix or path.startswith(prefix + "/")
            for method, operation in item.items()
            if method in _METHODS
        }
        if links:
            created["links"] = links
    return result


#: built schemas by (API version, language); the views and serializers they describe are
#: fixed for the life of a process
_SCHEMAS: dict[tuple[str | None, str], dict] = {}
_SCHEMAS_LOCK = threading.Lock()


class CachedSpectacularAPIView(SpectacularAPIView):
    """Serve the OpenAPI schema built once per process, not once per request.

    drf-spectacular introspects every view and serializer on each request (about 110 ms of
    CPU here), so ``/api/schema/``, which needs no key, was a cheap way to load a server.
    The schema depends only on the code, the version and the language, so the first build
    is kept and rendered for every later request; a settings change (tests) drops it.
    """

    def _get_schema_response(self, request):
        version = self.api_version or request.version or self._get_version_parameter(request)
        key = (version, _schema_language())
        schema = _SCHEMAS.get(key)
        if schema is None:
            with _SCHEMAS_LOCK:
                schema = _SCHEMAS.get(key)
                if schema is None:
                    generator = self.generator_class(
                        urlconf=self.urlconf, api_version=version, patterns=self.patterns
                    )
                    schema = generator.get_schema(request=request, public=self.serve_public)
                    _SCHEMAS[key] = schema
        return Response(
            data=schema,
            headers={
                "Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'
            },
        )


def _schema_language() -> str:
    """Name the language the schema is built in; any ``?lang=`` we do not serve is the default.

    Keying on the raw parameter would let a client grow the cache without bound.
    """
    language = translation.get_language() or settings.LANGUAGE_CODE
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


@receiver(setting_changed)
def _forget_schemas(**kwargs) -> None:
    _SCHEMAS.clear()
