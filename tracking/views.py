"""Staff pages (the live board, an order's page) and the customer's public tracking page."""

from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from . import selectors, services
from .choices import Milestone

#: the board's status filter offers the order's statuses, in the order they are lived
BOARD_STATUSES = [
    (value, Milestone(value).label)
    for value in (
        "placed",
        "reserved",
        "paid",
        "confirmed",
        "shipped",
        "out_for_delivery",
        "delivered",
        "rejected",
        "cancelled",
    )
]


@staff_member_required
def board(request):
    shop_id = _int_or_none(request.GET.get("shop"))
    status = request.GET.get("status", "")
    if status not in dict(BOARD_STATUSES):
        status = ""
    query = request.GET.get("q", "").strip()[:100]
    snapshot = selectors.board_snapshot(shop_id=shop_id, status=status, query=query)
    shops = services.board_shops()
    socket_query = urlencode(
        {key: value for key, value in (("status", status), ("q", query)) if value}
    )
    return render(
        request,
        "tracking/board.html",
        {
            "snapshot": snapshot,
            "statuses": BOARD_STATUSES,
            "shops": shops,
            "shop_id": shop_id,
            "shop_name": dict(shops).get(shop_id, ""),
            "status": status,
            "q": query,
            "total": sum(snapshot["counts"].values()),
            "query_without_status": urlencode(
                {key: value for key, value in (("shop", shop_id or ""), ("q", query)) if value}
            ),
            "socket_path": (f"/ws/board/{shop_id}/" if shop_id else "/ws/board/")
            + (f"?{socket_query}" if socket_query else ""),
        },
    )


@staff_member_required
def order_page(request, order_id: UUID):
    page = services.order_page_get(order_id=order_id)
    if page is None:
        raise Http404("No such order.")
    return render(
        request,
        "tracking/order.html",
        {
            "order": page.order,
            "payment": page.payment,
            "invoices": page.invoices,
            "timeline": page.timeline,
            "actions_by_status": page.actions_by_status,
            "tracking_url": settings.PUBLIC_BASE_URL
            + reverse("tracking:public", args=[page.order.tracking_token]),
            "socket_path": f"/ws/orders/{order_id}/",
        },
    )


def public_tracking(request, token: str):
    tracking = services.public_tracking_get(token=token)
    if tracking is None:
        raise Http404("No order has this tracking link.")
    response = render(
        request,
        "tracking/public.html",
        {
            "order": tracking.snapshot["order"],
            "snapshot": tracking.snapshot,
            "socket_path": f"/ws/track/{token}/",
        },
    )
    response["Referrer-Policy"] = "no-referrer"  # the token is the key to the page
    return response


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
