"""Kernel views: problem type docs, the problem-shaped 404/500, the failed event handling page
and its CSV."""

import unicodedata
from datetime import UTC, date, datetime, time
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Case, QuerySet, When
from django.db.models.fields.json import KeyTextTransform
from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_safe
from django.views.defaults import page_not_found, server_error

from . import csv_export, roles
from .api.problems import API_PREFIX, PROBLEM_TYPES, problem_response
from .events.maintenance import dead_letter_replay, dead_letters
from .events.projectors import all_projectors, parked_event_replay, parked_events
from .models import DeadLetter

FAILED_EVENTS_SHOWN = 200
FILTER_MAX_LENGTH = 200


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


@roles.staff_permission_required(roles.VIEW)
def failed_events(request):
    """Dead letters and parked events, filtered, with replay of the chosen ones or of all shown.

    Both kinds of failure: a saga step's delivery that failed for good (a dead letter,
    replayed as a new delivery in the background) and an event a projector parked
    (replayed by applying it again now). Seeing them needs the view permission;
    replaying (effects happen again) the supervisor's.
    """
    filters = _failed_event_filters(request)
    since = _filter_date(request, request.GET.get("since"))
    since_at = datetime.combine(since, time.min, tzinfo=UTC) if since else None
    letters = dead_letters(**filters, since=since_at)
    parked = parked_events(
        projector=filters["subscriber"],
        event_type=filters["event_type"],
        tenant_id=filters["tenant_id"],
        since=since_at,
    )
    if request.method == "POST":
        roles.require(request.user, roles.REPLAY)
        if request.POST.get("replay") == "all":
            ids = list(letters.values_list("pk", flat=True))
            parked_ids = list(parked.values_list("pk", flat=True))
        else:
            ids = [int(pk) for pk in request.POST.getlist("delivery") if _is_row_id(pk)]
            parked_ids = [int(pk) for pk in request.POST.getlist("parked") if _is_row_id(pk)]
        if not ids and not parked_ids:
            messages.error(request, gettext("Choose at least one failed event to replay."))
        actor = f"staff:{request.user.get_username()}"
        if ids:
            replayed = dead_letter_replay(delivery_ids=ids, actor=actor)
            messages.success(
                request,
                ngettext(
                    "Replayed %(count)d delivery; they run again in the background.",
                    "Replayed %(count)d deliveries; they run again in the background.",
                    replayed,
                )
                % {"count": replayed},
            )
        if parked_ids:
            _replay_parked(request, parked, parked_ids, actor)
        return redirect(request.get_full_path())
    shown = list(letters[:FAILED_EVENTS_SHOWN])
    return render(
        request,
        "orderflow/failed_events.html",
        {
            "letters": shown,
            "total": letters.count(),
            "parked": list(parked[:FAILED_EVENTS_SHOWN]),
            "parked_total": parked.count(),
            "shown_limit": FAILED_EVENTS_SHOWN,
            "filters": {**filters, "since": request.GET.get("since", "")},
            # the CSV of what the page shows (a date the page ignored is left out)
            "export_query": urlencode(
                {
                    key: value
                    for key, value in (
                        ("subscriber", filters["subscriber"]),
                        ("event_type", filters["event_type"]),
                        ("shop", filters["tenant_id"]),
                        ("since", since.isoformat() if since else ""),
                    )
                    if value
                }
            ),
            "subscribers": sorted(
                {
                    *DeadLetter.objects.values_list("subscriber", flat=True).distinct(),
                    *(p.name for p in all_projectors()),
                }
            ),
        },
    )


#: the dead letters' CSV columns: (what is read, its header)
FAILED_EVENT_COLUMNS = (
    ("pk", "id"),
    ("event_id", "event_id"),
    ("event__type", "event_type"),
    ("subscriber", "subscriber"),
    ("event__tenant_id", "shop_id"),
    ("order_number", "order_number"),
    ("attempts", "attempts"),
    ("dead_at", "failed_at"),
    ("last_error", "last_error"),
)


@require_safe
@roles.staff_permission_required(roles.VIEW)
def failed_events_export(request):
    """The dead letters the page's filters match as CSV: all of them (the page shows the
    oldest 200), oldest first, streamed (``csv_export``). This is the board's stuck work
    queue; its count is the same query.

    The order's number is read from the event's own data (an order's events carry
    ``number``, the payments' ``order_number``), so the export asks no context for it and
    costs one query whatever the rows.
    """
    since = None
    if value := request.GET.get("since"):
        since = _parse_date(value)
        if since is None:
            return HttpResponseBadRequest(
                gettext("Not exported: the date filter is not a date; use one like 2026-01-31."),
                content_type="text/plain; charset=utf-8",
            )
    since_at = datetime.combine(since, time.min, tzinfo=UTC) if since else None
    letters = dead_letters(**_failed_event_filters(request), since=since_at).annotate(
        order_number=Case(
            When(event__aggregate="order", then=KeyTextTransform("number", "event__data")),
            default=KeyTextTransform("order_number", "event__data"),
        )
    )
    rows = letters.values_list(*(field for field, _ in FAILED_EVENT_COLUMNS)).iterator(
        chunk_size=csv_export.CHUNK
    )
    return csv_export.csv_download(
        request,
        name="failed-events",
        chunks=csv_export.csv_chunks([header for _, header in FAILED_EVENT_COLUMNS], rows),
    )


def _failed_event_filters(request) -> dict[str, str]:
    return {
        "subscriber": _filter_text(request.GET.get("subscriber")),
        "event_type": _filter_text(request.GET.get("event_type")),
        "tenant_id": _filter_text(request.GET.get("shop")),
    }


def _replay_parked(request, parked: QuerySet, ids: list[int], actor: str) -> None:
    """Apply the chosen parked events again now, and say how many failed again."""
    chosen = parked.filter(pk__in=ids).count()
    replayed = parked_event_replay(parked_ids=ids, actor=actor)
    messages.success(
        request,
        ngettext(
            "Replayed %(count)d parked event; their projectors applied them again.",
            "Replayed %(count)d parked events; their projectors applied them again.",
            replayed,
        )
        % {"count": replayed},
    )
    if chosen > replayed:
        failed = chosen - replayed
        messages.error(
            request,
            ngettext(
                "%(count)d parked event failed again and stays parked: see the error shown.",
                "%(count)d parked events failed again and stay parked: see the error shown.",
                failed,
            )
            % {"count": failed},
        )


def _is_row_id(value: str) -> bool:
    """Whether ``value`` can name a row: ASCII digits within a 64-bit key.

    ``str.isdigit`` accepts "²" too (``int`` then raises), and a number past a bigint
    overflows SQLite's integer: either was a 500, and neither names a failed delivery.
    """
    return value.isascii() and value.isdigit() and len(value) <= 18


def _filter_text(value: str | None) -> str:
    """Drop control characters from a typed filter: PostgreSQL refuses NUL in text (a 500)."""
    text = "".join(ch for ch in (value or "") if unicodedata.category(ch) != "Cc")
    return text.strip()[:FILTER_MAX_LENGTH]


def _filter_date(request, value: str | None) -> date | None:
    """Read the ``since`` filter; tell the staff member when it is not a date, and ignore it."""
    if not value:
        return None
    parsed = _parse_date(value)
    if parsed is None:
        messages.warning(
            request, gettext("The date filter was ignored: use a date like 2026-01-31.")
        )
    return parsed


def _parse_date(value: str) -> date | None:
    try:
        return parse_date(value)
    except ValueError:  # well formed but impossible, like 2026-02-31
        return None
