"""Staff pages (the live board, an order's page) and the customer's public tracking page.

Every staff page needs the staff role's view permission; the order page shows only the
actions the staff member's role may take.
"""

from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_POST, require_safe

from orderflow import csv_export, customer_locale, roles

from . import exports, filters, public_page, queues, selectors, services
from .exceptions import InvalidNote, OrderNotFound
from .forms import NoteForm


@require_safe
@roles.staff_permission_required(roles.VIEW)
def board_export(request):
    """The board's view as CSV: every order its filters and work queue match (not one page),
    newest first, streamed a chunk of rows at a time (``orderflow.csv_export``).

    A queue that is not board rows (stuck work) has its own CSV, where its items are
    handled: the export of that queue redirects there, for the board's shop.
    """
    shop_id = filters.shop_id(request.GET.get("shop"))
    if other := queues.other_queue_get(request.GET.get("queue")):
        return redirect(other.export_url(shop_id))
    status = filters.board_status(request.GET.get("status"))
    queue = filters.work_queue(request.GET.get("queue"))
    query = filters.search_text(request.GET.get("q"))
    orders = selectors.board_orders(shop_id=shop_id, status=status, query=query, queue=queue)
    return csv_export.csv_download(
        request, name=f"orders-{queue}" if queue else "orders", chunks=exports.board_csv(orders)
    )


@roles.staff_permission_required(roles.VIEW)
def board(request):
    # filters a person did not type (junk, NUL, an unknown status) are ignored, never a 500
    shop_id = filters.shop_id(request.GET.get("shop"))
    status = filters.board_status(request.GET.get("status"))
    queue = filters.work_queue(request.GET.get("queue"))
    query = filters.search_text(request.GET.get("q"))
    page = filters.page_number(request.GET.get("page"))
    snapshot = selectors.board_snapshot(
        shop_id=shop_id,
        status=status,
        query=query,
        queue=queue,
        page=page,
        # a later page stays anchored at the moment it was first shown (see the selector)
        until=timezone.now() if page > 1 else None,
    )
    paging = snapshot["page"]
    shops = services.board_shops()
    kept = {"shop": shop_id or "", "status": status, "queue": queue, "q": query}
    socket_query = urlencode(
        {
            key: value
            for key, value in (
                ("status", status),
                ("queue", queue),
                ("q", query),
                ("page", paging["number"] if paging["number"] > 1 else ""),
                ("until", paging["until"]),
            )
            if value
        }
    )
    return render(
        request,
        "tracking/board.html",
        {
            "snapshot": snapshot,
            "paging": paging,
            "page_links": _page_links(kept, number=paging["number"], pages=paging["pages"]),
            "newest_url": _href(kept),
            "filter_query": _query(kept),
            "active_filters": sum(1 for value in kept.values() if value),
            "statuses": filters.BOARD_STATUSES,
            "shops": shops,
            "shop_id": shop_id,
            "shop_name": dict(shops).get(shop_id, ""),
            "status": status,
            "q": query,
            "total": sum(snapshot["counts"].values()),
            # a status tile or a queue replaces the other: each is a view of its own
            "query_without_status": _query({**kept, "status": "", "queue": ""}),
            "queue": queues.queue_get(queue),
            "queue_links": _queue_links(kept, shop_id=shop_id, counts=snapshot["queues"]),
            "socket_path": (f"/ws/board/{shop_id}/" if shop_id else "/ws/board/")
            + (f"?{socket_query}" if socket_query else ""),
        },
    )


def _queue_links(kept: dict, *, shop_id: int | None, counts: dict[str, int]) -> list[dict]:
    """The board's work queues, each a link keeping the shop and search, with its count."""
    links = []
    for queue in queues.ENABLED:
        if queue.of_rows:
            url = _href({**kept, "status": "", "queue": queue.slug})
        else:
            url = queue.url(shop_id)
        links.append(
            {
                "slug": queue.slug,
                "label": queue.label,
                "description": queue.description,
                "url": url,
                "count": counts.get(queue.slug, 0),
                "current": kept["queue"] == queue.slug,
            }
        )
    return links


def _query(values: dict) -> str:
    return urlencode({key: value for key, value in values.items() if value})


def _href(values: dict) -> str:
    """A link to the board with these filters (the bare board when there are none)."""
    query = _query(values)
    return f"?{query}" if query else reverse("tracking:board")


def _page_links(kept: dict, *, number: int, pages: int) -> list[dict]:
    """First, previous, next and last, each keeping the filters; None where there is none."""
    targets = (
        ("first", pgettext("page", "First"), 1, number > 1),
        ("previous", pgettext("page", "Previous"), number - 1, number > 1),
        ("next", pgettext("page", "Next"), number + 1, number < pages),
        ("last", pgettext("page", "Last"), pages, number < pages),
    )
    return [
        {
            "rel": rel,
            "label": label,
            "url": _href({**kept, "page": target if target > 1 else ""}) if enabled else None,
        }
        for rel, label, target, enabled in targets
    ]


@roles.staff_permission_required(roles.VIEW)
def order_page(request, order_id: UUID):
    page = services.order_page_get(order_id=order_id, may=request.user.has_perm)
    if page is None:
        raise Http404("No such order.")
    return render(
        request,
        "tracking/order.html",
        {
            **_order_blocks(page),
            "timeline": page.timeline,
            "actions_by_status": page.actions_by_status,
            "note_form": NoteForm(),
            "socket_path": f"/ws/orders/{order_id}/",
        },
    )


@roles.staff_permission_required(roles.VIEW)
def order_page_blocks(request, order_id: UUID):
    """The order page's live blocks, rendered as on the page, for the page to swap in.

    Why a fragment instead of carrying the blocks' facts in the pushes: the summary,
    payment, invoices, notes and e-mails come from four contexts; putting them in every
    push would make the tracking projector read payments, invoices and e-mails per order
    of each batch (work in the pipeline for pages nobody may have open) or make every
    event carry them. Instead a push stays the small per-batch hint it is, and an open
    page, told that its order moved, asks once for these blocks (one GET per push per
    open page; the page coalesces pushes that arrive while one GET is in flight). The
    blocks are rendered by the same templates as the page itself, so they never differ.
    """
    page = services.order_page_get(order_id=order_id, may=request.user.has_perm)
    if page is None:
        raise Http404("No such order.")
    response = render(request, "tracking/order_blocks.html", _order_blocks(page))
    response["Cache-Control"] = "no-store"
    return response


def _order_blocks(page) -> dict:
    allowed = page.actions_by_status.get(page.order.status, ())
    return {
        "allowed_actions": allowed,
        "order": page.order,
        "payment": page.payment,
        "invoices": page.invoices,
        "next_step": page.timeline["order"]["next_step"],
        "notes": page.notes,
        "emails": page.emails,
        "other_orders": page.other_orders,
        "may_note": page.may_note,
        "may_resend": page.may_resend,
        "may_change_address": "change_address" in allowed,
        "returns": page.returns,
        "return_steps_allowed": page.return_steps_allowed,
        "may_request_return": page.may_request_return,
        "tracking_url": settings.PUBLIC_BASE_URL
        + reverse("tracking:public", args=[page.order.tracking_token]),
    }


@require_POST
@roles.staff_permission_required(roles.NOTE)
def order_note_create(request, order_id: UUID):
    """Add an internal note; the result is a message on the order page, never an error page."""
    form = NoteForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, _("Note not added: %(detail)s") % {"detail": " ".join(form.errors["body"])}
        )
        return redirect(reverse("tracking:order", args=[order_id]) + "#notes")
    try:
        services.order_note_add(
            order_id=order_id,
            author=f"staff:{request.user.get_username()}",
            body=form.cleaned_data["body"],
        )
    except InvalidNote as error:
        messages.error(request, _("Note not added: %(detail)s") % {"detail": error.detail})
    except OrderNotFound:
        raise Http404("No such order.") from None
    else:
        messages.success(request, _("Note added."))
    return redirect(reverse("tracking:order", args=[order_id]) + "#notes")


def public_tracking(request, token: str):
    tracking = services.public_tracking_get(token=token)
    if tracking is None:
        raise Http404("No order has this tracking link.")
    order = tracking.snapshot["order"]
    language = customer_locale.page_language(
        order_locale=order["locale"],
        accept_language=request.headers.get("Accept-Language"),
        asked=request.GET.get("lang", ""),
    )
    with translation.override(language):
        live = public_page.snapshot_message(tracking.snapshot)
        response = render(
            request,
            "tracking/public.html",
            {
                "order": order,
                "snapshot": tracking.snapshot,
                "live": live,
                "view": live["view"],
                "steps": live["steps"],
                "language": language,
                "html_lang": customer_locale.html_lang(language),
                "languages": [(code, name) for code, name in settings.LANGUAGES],
                "mail_subject": _("Order %(number)s") % {"number": order["number"]},
                # the socket words its pushes in the page's language
                "socket_path": f"/ws/track/{token}/?{urlencode({'lang': language})}",
            },
        )
    response["Referrer-Policy"] = "no-referrer"  # the token is the key to the page
    response["Content-Language"] = customer_locale.html_lang(language)
    patch_vary_headers(response, ["Accept-Language"])
    return response
