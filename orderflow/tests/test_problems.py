"""RFC 9457 problem documents, rendered for errors raised inside a DRF view."""

import pytest
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError, connection
from django.http import Http404, HttpResponse
from django.test import Client, RequestFactory
from django.urls import include, path
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from orderflow.api.middleware import RequestBodyLimitMiddleware
from orderflow.api.problems import OUTAGE_RETRY_AFTER_SECONDS, PROBLEM_TYPES
from orderflow.correlation import reset_correlation_id, set_correlation_id
from orderflow.errors import DomainError, FieldError, InputError


class SeatTaken(DomainError):
    status = 409
    code = "invalid-transition"
    title = "Seat already taken"


class Undocumented(DomainError):
    status = 418
    code = "teapot"
    title = "I am a teapot"


class NestedInputSerializer(serializers.Serializer):
    class LineSerializer(serializers.Serializer):
        sku = serializers.CharField()
        quantity = serializers.IntegerField(min_value=1)

    name = serializers.CharField()
    lines = LineSerializer(many=True, min_length=1)


class RaisingView(APIView):
    """Raise whatever the test hands it, as a view of any context would."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []
    error: Exception | None = None

    def get(self, request):
        raise self.error

    def post(self, request):
        serializer = NestedInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return HttpResponse(status=204)


def _raise(error: Exception, *, correlation_id: str | None = "trace-1"):
    token = set_correlation_id(correlation_id)
    try:
        response = RaisingView.as_view(error=error)(APIRequestFactory().get("/api/v1/things/7"))
        response.render()
    finally:
        reset_correlation_id(token)
    return response


def test_renders_a_domain_error_with_its_fields_extras_and_headers():
    error = SeatTaken(
        "Seat 7 is taken.",
        errors=[FieldError(attr="seats.0", code="taken", detail="Seat 7 is taken.")],
        extra={"allowed_actions": ["wait"]},
        headers={"Retry-After": "3"},
    )

    response = _raise(error)

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "3"
    assert response.data == {
        "type": "/api/problems/invalid-transition",
        "title": "Seat already taken",
        "status": 409,
        "detail": "Seat 7 is taken.",
        "instance": "/api/v1/things/7",
        "correlation_id": "trace-1",
        "errors": [{"attr": "seats.0", "code": "taken", "detail": "Seat 7 is taken."}],
        "allowed_actions": ["wait"],
    }


def test_an_undocumented_code_is_about_blank_with_its_own_title():
    response = _raise(Undocumented("Short and stout."))

    assert response.status_code == 418
    assert (response.data["type"], response.data["title"]) == ("about:blank", "I am a teapot")


def test_an_input_error_is_a_validation_problem():
    response = _raise(InputError("Bad.", errors=[FieldError("sku", "unknown", "No such SKU.")]))

    assert response.status_code == 400
    assert response.data["type"] == "/api/problems/validation-error"
    assert response.data["errors"] == [{"attr": "sku", "code": "unknown", "detail": "No such SKU."}]


def test_leaves_out_the_correlation_id_when_there_is_none():
    response = _raise(exceptions.PermissionDenied(), correlation_id=None)

    assert response.status_code == 403
    assert "correlation_id" not in response.data
    assert response.data["type"] == "/api/problems/permission-denied"


def test_flattens_nested_field_errors_into_paths():
    request = APIRequestFactory().post(
        "/api/v1/things",
        {"lines": [{"sku": "A", "quantity": 1}, {"sku": "", "quantity": 0}]},
        format="json",
    )

    response = RaisingView.as_view()(request)
    response.render()

    assert response.status_code == 400
    assert response.data["type"] == "/api/problems/validation-error"
    assert response.data["errors"] == [
        {"attr": "name", "code": "required", "detail": "This field is required."},
        {"attr": "lines.1.sku", "code": "blank", "detail": "This field may not be blank."},
        {
            "attr": "lines.1.quantity",
            "code": "min_value",
            "detail": "Ensure this value is greater than or equal to 1.",
        },
    ]
    assert response.data["detail"] == "name: This field is required. (and 2 more)"


def test_names_a_list_not_its_non_field_errors():
    request = APIRequestFactory().post("/api/v1/things", {"name": "x", "lines": []}, format="json")

    response = RaisingView.as_view()(request)
    response.render()

    assert response.data["errors"] == [
        {
            "attr": "lines",
            "code": "min_length",
            "detail": "Ensure this field has at least 1 elements.",
        }
    ]
    assert response.data["detail"] == "lines: Ensure this field has at least 1 elements."


def test_keeps_the_detail_of_a_404():
    response = _raise(Http404("No such thing."))

    assert response.status_code == 404
    assert (response.data["type"], response.data["detail"]) == (
        "/api/problems/not-found",
        "No such thing.",
    )


def test_hides_an_unexpected_error_behind_a_500():
    response = _raise(RuntimeError("password=hunter2 in a stack"))

    assert response.status_code == 500
    assert response.data == {
        "type": "/api/problems/server-error",
        "title": "Internal server error",
        "status": 500,
        "detail": "Server Error (500)",
        "instance": "/api/v1/things/7",
        "correlation_id": "trace-1",
        "errors": [],
    }


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("could not connect to server"),
        InterfaceError("connection already closed"),
        PoolTimeout("couldn't get a connection after 3.00 sec"),
        RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
        RedisTimeoutError("Timeout reading from socket"),
    ],
    ids=["db-operational", "db-interface", "pool-timeout", "redis-connection", "redis-timeout"],
)
def test_a_dependency_outage_is_a_503_with_retry_after(error):
    response = _raise(error)

    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == str(OUTAGE_RETRY_AFTER_SECONDS)
    assert response.data == {
        "type": "/api/problems/service-unavailable",
        "title": "Service unavailable",
        "status": 503,
        "detail": "A service the API depends on is unavailable; retry after `Retry-After` seconds.",
        "instance": "/api/v1/things/7",
        "correlation_id": "trace-1",
        "errors": [],
    }


@pytest.mark.django_db
def test_a_staff_page_answers_a_database_outage_503_not_a_traceback(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("ana", "ana@example.com", "x"))

    def lost_server(execute, sql, params, many, context):
        raise OperationalError("server closed the connection unexpectedly")

    with connection.execute_wrapper(lost_server):
        response = client.get("/staff/failed-events")

    assert response.status_code == 503
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Retry-After"] == str(OUTAGE_RETRY_AFTER_SECONDS)
    assert response.content.decode().startswith("Service unavailable")


def test_a_body_django_finds_too_big_is_a_413():
    response = _raise(RequestDataTooBig())

    assert response.status_code == 413
    assert response.data["type"] == "/api/problems/request-too-large"
    assert response.data["detail"] == "The request body is larger than 262144 bytes."


def test_a_throttled_request_says_when_to_retry():
    response = _raise(exceptions.Throttled(wait=42))

    assert response.status_code == 429
    assert response["Retry-After"] == "42"
    assert response.data["type"] == "/api/problems/rate-limited"


def test_the_body_limit_applies_to_api_paths_only():
    passed = []

    def view(request):
        passed.append(request.path)
        return HttpResponse(status=204)

    middleware = RequestBodyLimitMiddleware(view)
    factory = RequestFactory()
    big = {"CONTENT_LENGTH": str(256 * 1024 + 1)}

    api = middleware(factory.post("/api/v1/orders", content_type="application/json", **big))
    page = middleware(factory.post("/admin/login/", content_type="text/plain", **big))
    exact = middleware(
        factory.post(
            "/api/v1/orders", content_type="application/json", CONTENT_LENGTH=str(256 * 1024)
        )
    )

    assert (api.status_code, api["Content-Type"]) == (413, "application/problem+json")
    assert (page.status_code, exact.status_code) == (204, 204)
    assert passed == ["/admin/login/", "/api/v1/orders"]


@pytest.mark.parametrize("slug", sorted(PROBLEM_TYPES))
def test_documents_every_problem_type_at_its_uri(slug):
    problem_type = PROBLEM_TYPES[slug]

    response = Client().get(problem_type.uri)

    assert response.status_code == 200
    assert response.json() == {
        "type": f"/api/problems/{slug}",
        "title": problem_type.title,
        "status": problem_type.status,
        "description": problem_type.description,
    }


def test_answers_an_unknown_problem_type_with_a_404_problem():
    response = Client().get("/api/problems/no-such-problem")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/api/problems/not-found"


def test_a_non_api_404_stays_a_page():
    response = Client().get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def _boom(request):
    raise RuntimeError("secret detail of a bug")


urlpatterns = [path("api/v1/boom", _boom), path("", include("orderflow.urls"))]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "url", ["/api/v1/orders/null,null/tracking", "/api/nope", "/api/v1/nope", "/api/problems/x"]
)
def test_an_unmatched_api_path_is_a_404_problem_in_both_modes(settings, debug, url):
    settings.DEBUG = debug

    response = Client().get(url)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/api/problems/not-found"
    assert body["status"] == 404
    assert body["instance"] == url


def test_a_method_a_plain_api_view_refuses_is_a_405_problem_naming_the_allowed_ones():
    response = Client().post("/api/problems/not-found")

    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"
    assert response["Allow"] == "GET, HEAD"
    body = response.json()
    assert body["type"] == "/api/problems/method-not-allowed"
    assert body["detail"] == "POST is not allowed here; allowed: GET, HEAD."


def test_a_host_the_api_does_not_serve_is_a_400_problem():
    response = Client(HTTP_HOST="evil.example").get("/api/v1/orders")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/api/problems/bad-request"


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("debug", [False, True])
def test_a_crash_in_a_plain_api_view_is_a_500_problem_without_its_text(settings, debug):
    settings.DEBUG = debug

    response = Client(raise_request_exception=False).get("/api/v1/boom")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/api/problems/server-error"
    assert b"secret detail" not in response.content


@pytest.mark.parametrize("debug", [False, True])
def test_a_non_api_404_stays_a_page_in_both_modes(settings, debug):
    settings.DEBUG = debug

    response = Client().get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
