"""Kernel views: problem type docs, the problem-shaped 404/500, the failed-deliveries page."""

from datetime import UTC, datetime, time

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_safe
from django.views.defaults import page_not_found, server_error

from .api.problems import API_PREFIX, PROBLEM_TYPES, problem_response
from .events.maintenance import dead_letter_replay, dead_letters
from .models import DeadLetter

FAILED_DELIVERIES_SHOWN = 200


@require_safe
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


@staff_member_required
def failed_deliveries(request):
    """Dead letters, filtered, with replay of the chosen ones or of every one shown."""
    filters = {
        "subscriber": request.GET.get("subscriber", "").strip(),
        "event_type": request.GET.get("event_type", "").strip(),
        "tenant_id": request.GET.get("shop", "").strip(),
    }
    since = parse_date(request.GET.get("since", "") or "") if request.GET.get("since") else None
    letters = dead_letters(
        **filters,
        since=datetime.combine(since, time.min, tzinfo=UTC) if since else None,
    )
    if request.method == "POST":
        if request.POST.get("replay") == "all":
            ids = list(letters.values_list("pk", flat=True))
        else:
            ids = [int(pk) for pk in request.POST.getlist("delivery") if pk.isdigit()]
        if not ids:
            messages.error(request, "Choose at least one failed delivery to replay.")
        else:
            replayed = dead_letter_replay(delivery_ids=ids)
            messages.success(
                request,
                f"Replayed {replayed} deliver{'y' if replayed == 1 else 'ies'}; "
                "they run again in the background.",
            )
        return redirect(request.get_full_path())
    shown = list(letters[:FAILED_DELIVERIES_SHOWN])
    return render(
        request,
        "orderflow/failed_deliveries.html",
        {
            "letters": shown,
            "total": letters.count(),
            "shown_limit": FAILED_DELIVERIES_SHOWN,
            "filters": {**filters, "since": request.GET.get("since", "")},
            "subscribers": DeadLetter.objects.values_list("subscriber", flat=True)
            .distinct()
            .order_by("subscriber"),
        },
    )
