"""The problem+json shape the shops' API answers errors with."""

PROBLEM_CONTENT_TYPE = "application/problem+json"


def assert_problem(response, *, status: int, type_slug: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    body = response.json()
    assert body["type"] == f"/api/problems/{type_slug}"
    assert body["status"] == status
    assert {"type", "title", "status", "detail", "errors"} <= set(body)
    return body
