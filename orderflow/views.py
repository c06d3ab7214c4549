"""Kernel views: problem type documentation and the problem-shaped 404/500 for API paths."""

from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found, server_error

from .api.problems import API_PREFIX, PROBLEM_TYPES, problem_response


def problem_type_detail(request, slug: str):
    """Describe one problem type, so that every ``type`` URI in an error resolves."""
    problem_type = PROBLEM_TYPES.get(slug)
    if problem_type is None:
        raise Http404(f"No problem type {slug!r}.")
    return JsonResponse(
        {
            "type": problem_type.uri,
            "title": problem_type.title,
            "status": problem_type.status,
            "description": problem_type.description,
        }
    )


def not_found(request, exception=None):
    if request.path.startswith(API_PREFIX):
        return problem_response(
            request, slug="not-found", detail="No such resource.", status_code=404
        )
    return page_not_found(request, exception)


def server_failure(request):
    if request.path.startswith(API_PREFIX):
        return problem_response(
            request,
            slug="server-error",
            detail="Something failed on our side; quote the correlation id to support.",
            status_code=500,
        )
    return server_error(request)
