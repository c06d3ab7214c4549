"""Staff pages of the orders context: a new order, and the actions on one order.

The order page itself (with the live timeline) is the tracking context's; its action
buttons lead here. Each action asks for confirmation (GET), then runs the same service
as the shops' API (POST, CSRF-protected). An action the order's state does not allow
comes back as a message on the order page, never as an error page. An action the
staff member's role does not allow is a 403 page, and nothing changes.
"""

import csv
import io
from collections.abc import Callable
from functools import partial
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_POST

from orderflow import roles

from . import interface, permissions, selectors, services
from .choices import ORDER_STATUS_WORDS
from .exceptions import DiscountUnavailable, OrderError, OrderInputError, RefundNotAllowed
from .forms import (
    AddressForm,
    BulkShipForm,
    CancelForm,
    OrderCreateForm,
    OrderLineFormSet,
    ReturnRequestForm,
    ReturnStepForm,
    ShipForm,
    product_skus,
)
from .models import Order
from .services import parcel_issues, remainder, returns
from .services.amendments import ADDRESS_CHANGEABLE
from .services.bulk_ship import bulk_ship_apply, bulk_ship_preview, bulk_ship_report


def _actor(request) -> services.Actor:
    return services.Actor(kind="staff", name=request.user.get_username())


@roles.staff_permission_required(roles.PLACE)
def order_create(request):
    """Place an order on behalf of a shop, priced from its catalog like the API does."""
    data = request.POST if request.method == "POST" else None
    form = OrderCreateForm(data)
    lines = OrderLineFormSet(data, prefix="lines")
    if data is not None and form.is_valid() and lines.is_valid():
        filled = [line for line in lines.forms if line.has_changed() and line.cleaned_data]
        try:
            order, replayed = services.order_place_once(
                actor=_actor(request),
                shop=form.cleaned_data["shop"],
                form_key=form.cleaned_data["form_key"],
                customer=services.CustomerInput(
                    name=form.cleaned_data["customer_name"],
                    email=form.cleaned_data["customer_email"],
                ),
                shipping_address=form.shipping_address(),
                lines=[
                    services.LineInput(
                        sku=line.cleaned_data["sku"], quantity=line.cleaned_data["quantity"]
                    )
                    for line in filled
                ],
                payment_token=form.cleaned_data["payment_token"],
                shipping_method=form.cleaned_data["shipping_method"],
                discount_codes=[code for code in [form.cleaned_data["discount_code"]] if code],
            )
        except (OrderInputError, DiscountUnavailable) as error:
            _show_input_errors(error, form, filled)
        except services.IdempotencyKeyReused:
            form.add_error(
                None,
                gettext(
                    "This form already placed an order, with other details. Check that order "
                    "on the board; to place another one, submit this form again."
                ),
            )
            form.renew_key()
        except services.RequestInFlight:
            form.add_error(
                None,
                gettext(
                    "This order is still being placed by an earlier submit of this form. Look "
                    "for it on the board before submitting again."
                ),
            )
        else:
            if replayed:
                messages.info(
                    request,
                    gettext("Order %(number)s was already placed by this form.")
                    % {"number": order.number},
                )
            else:
                messages.success(
                    request,
                    gettext("Order %(number)s placed for %(shop)s.")
                    % {"number": order.number, "shop": order.shop.name},
                )
            return redirect("tracking:order", order_id=order.id)
    elif data is not None and "form_key" in form.errors:
        form.renew_key()
    return render(
        request,
        "orders/order_form.html",
        {"form": form, "lines": lines, "skus": product_skus()},
    )


#: the service's field paths that name one field of the staff form
_FORM_FIELDS = {
    "shipping_method": "shipping_method",
    "discount_codes.0": "discount_code",
    "shipping_address.country": "country",
    "customer.email": "customer_email",
}


def _show_input_errors(error: OrderInputError | DiscountUnavailable, form, filled) -> None:
    """Put the service's errors (``lines.1.sku``) on the fields the staff member filled."""
    for field_error in error.errors:
        parts = field_error.attr.split(".")
        if parts[0] == "lines" and len(parts) == 3 and int(parts[1]) < len(filled):
            filled[int(parts[1])].add_error(parts[2], field_error.detail)
        elif field_error.attr in _FORM_FIELDS:
            form.add_error(_FORM_FIELDS[field_error.attr], field_error.detail)
        else:
            form.add_error(None, field_error.detail)
    if not error.errors:
        form.add_error(None, error.detail)


@roles.staff_permission_required(roles.VIEW)
def order_ship(request, order_id: UUID):
    return _action(
        request,
        order_id,
        action="ship",
        title=gettext("Ship the order"),
        explanation=gettext(
            "Hand a parcel to a carrier: every unit that remains, or fewer of each line for a "
            "split shipment (the rest ships later). The parcel's stock is consumed, and the "
            "customer can follow it on the public tracking page."
        ),
        confirm=gettext("Confirm shipment"),
        form_class=partial(ShipForm, lines=selectors.order_lines_to_ship(order_id=order_id)),
        run=lambda data: services.shipment_create(
            order_id=order_id,
            shop=None,
            actor=_actor(request),
            carrier=data["carrier"],
            tracking_number=data["tracking_number"],
            lines=data["lines"],
        ),
        done=gettext("Shipped with %(carrier)s, tracking number %(tracking_number)s."),
    )


@roles.staff_permission_required(roles.VIEW)
def order_out_for_delivery(request, order_id: UUID):
    return _action(
        request,
        order_id,
        action="out_for_delivery",
        title=gettext("Mark out for delivery"),
        explanation=gettext("The carrier is on the way to the customer."),
        confirm=gettext("Confirm: out for delivery"),
        run=lambda data: services.order_mark_out_for_delivery(
            order_id=order_id, shop=None, actor=_actor(request)
        ),
        done=gettext("Marked out for delivery."),
    )


@roles.staff_permission_required(roles.VIEW)
def order_deliver(request, order_id: UUID):
    return _action(
        request,
        order_id,
        action="deliver",
        title=gettext("Mark delivered"),
        explanation=gettext("The customer has the parcel. This is final."),
        confirm=gettext("Confirm delivery"),
        run=lambda data: services.order_deliver(
            order_id=order_id, shop=None, actor=_actor(request)
        ),
        done=gettext("Marked delivered."),
    )


@roles.staff_permission_required(roles.VIEW)
def order_cancel(request, order_id: UUID):
    return _action(
        request,
        order_id,
        action="cancel",
        title=gettext("Cancel the order"),
        explanation=gettext(
            "The reserved stock is released. If the order is paid, the payment is refunded "
            "automatically and a credit note cancels the invoice. This cannot be undone."
        ),
        confirm=gettext("Cancel the order"),
        danger=True,
        form_class=CancelForm,
        run=lambda data: services.order_cancel(
            order_id=order_id,
            shop=None,
            actor=_actor(request),
            reason=data["reason"],
            # checked again on the locked order: it may have been paid since the page showed
            refund_allowed=request.user.has_perm(roles.REFUND),
        ),
        done=gettext("Cancelled; a captured payment is being refunded."),
    )


@roles.staff_permission_required(roles.VIEW)
def order_cancel_remainder(request, order_id: UUID):
    """Cancel what has not shipped of a partly shipped order (the refund permission: the
    units' share of the payment goes back); the page names the units that will not ship."""
    waiting = ", ".join(
        f"{units} \u00d7 {name} ({sku})"
        for sku, name, units in selectors.order_lines_to_ship(order_id=order_id)
    )
    return _action(
        request,
        order_id,
        action="cancel_remainder",
        title=gettext("Cancel what has not shipped"),
        explanation=gettext(
            "These units have not shipped and will not: %(units)s. Their reserved stock is "
            "released and their share of the payment is refunded with a credit note "
            "(shipping is not refunded); the parcels already sent go on, and the order "
            "counts as shipped. The customer is e-mailed. This cannot be undone."
        )
        % {"units": waiting or "—"},
        confirm=gettext("Cancel the rest"),
        danger=True,
        form_class=CancelForm,
        run=lambda data: remainder.order_cancel_remainder(
            order_id=order_id, shop=None, actor=_actor(request), reason=data["reason"]
        ),
        done=gettext(
            "The rest of the order was cancelled: its stock is released and its share of "
            "the payment is being refunded."
        ),
    )


@roles.staff_permission_required(roles.VIEW)
def order_change_address(request, order_id: UUID):
    """Send a not yet shipped order elsewhere: the API's rules, audited, published.

    The form starts from the current address; the change is ``order_change_shipping_address``
    (the order locked, refused once it has shipped, ``order.shipping_address_changed``
    published naming the staff member, so the timeline, board and webhooks see it).
    """
    current = Order.objects.filter(pk=order_id).values("shipping_address", "status").first()
    if current is not None and current["status"] not in ADDRESS_CHANGEABLE:
        roles.require(request.user, roles.CHANGE_ADDRESS)
        messages.error(
            request,
            gettext(
                "Not possible: the order is %(status)s; its shipping address can no longer change."
            )
            % {"status": ORDER_STATUS_WORDS[current["status"]]},
        )
        return redirect("tracking:order", order_id=order_id)
    address = current["shipping_address"] if current else None
    return _action(
        request,
        order_id,
        action="change_address",
        title=gettext("Change the shipping address"),
        explanation=gettext(
            "The parcel goes to this address instead. The change is recorded on the order's "
            "timeline with your name, and the shop is told by webhook. Once the order has "
            "shipped the address can no longer change."
        ),
        confirm=gettext("Change the address"),
        form_class=AddressForm,
        initial=address if isinstance(address, dict) else None,
        run=lambda data: services.order_change_shipping_address(
            order_id=order_id,
            shop=None,
            actor=_actor(request),
            # the optional lines left empty are not part of the address
            shipping_address={name: value for name, value in data.items() if value},
        ),
        done=gettext("Shipping address changed."),
    )


@roles.staff_permission_required(roles.SHIP)
def orders_bulk_ship(request):
    """Ship orders from a CSV: preview with each row's errors, apply, and the report.

    The preview changes nothing and carries the rows to the apply as they were read; the
    apply checks every row again (orders move meanwhile) and ships each valid one on its own.
    """
    form = BulkShipForm(request.POST or None, request.FILES or None)
    context: dict = {"form": form, "section": "bulk-ship"}
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["text"]
        try:
            if form.cleaned_data["step"] == "apply":
                rows = bulk_ship_apply(text=text, actor=_actor(request))
                shipped = sum(row.shipped for row in rows)
                # the result's heading says it (no flash message besides)
                context.update(applied=True, shipped=shipped, report=bulk_ship_report(rows))
            else:
                rows = bulk_ship_preview(text=text)
                context.update(text=text, ready=sum(row.ok for row in rows))
        except OrderInputError as error:
            form.add_error(None, error.detail)
        else:
            context.update(rows=rows, refused=sum(not row.ok for row in rows))
    return render(request, "orders/bulk_ship.html", context)


@roles.staff_permission_required(roles.SHIP)
def orders_select_ship(request):
    """Choose orders to ship from the oldest confirmed ones, a carrier and tracking number each.

    The chosen rows go to the bulk ship's preview, as if they were a CSV: the same checks,
    the same "Ship N orders", the same report.
    """
    orders = selectors.orders_to_ship()
    if request.method == "POST":
        chosen = request.POST.getlist("order")
        out = io.StringIO()
        writer = csv.writer(out)
        for number in chosen:
            writer.writerow(
                [
                    number,
                    request.POST.get(f"carrier-{number}", ""),
                    request.POST.get(f"tracking-{number}", ""),
                ]
            )
        if not chosen:
            return render(
                request,
                "orders/select_ship.html",
                {"orders": orders, "error": gettext("Choose at least one order to ship.")},
            )
        text = out.getvalue()
        try:
            rows = bulk_ship_preview(text=text)
        except OrderInputError as error:  # more rows than a file may hold: not from this page
            return render(
                request, "orders/select_ship.html", {"orders": orders, "error": error.detail}
            )
        return render(
            request,
            "orders/bulk_ship.html",
            {
                "form": BulkShipForm(),
                "rows": rows,
                "text": text,
                "ready": sum(row.ok for row in rows),
                "refused": sum(not row.ok for row in rows),
            },
        )
    return render(request, "orders/select_ship.html", {"orders": orders})


def _action(
    request,
    order_id: UUID,
    *,
    action: str,
    title: str,
    explanation: str,
    confirm: str,
    run: Callable[[dict], Order],
    done: str,
    form_class=None,
    danger: bool = False,
    initial: dict | None = None,
):
    order = interface.order_details(order_id=order_id)
    if order is None:
        raise Http404("No such order.")
    roles.require(request.user, permissions.action_permission(action=action, status=order.status))
    data = request.POST if request.method == "POST" else None
    form = form_class(data, initial=initial) if form_class else None
    if data is not None and (form is None or form.is_valid()):
        cleaned = form.cleaned_data if form else {}
        # no transaction of its own: an error whose writes stand (a declined refund) was
        # raised after the service committed them, and is a message like any refusal
        try:
            run(cleaned)
        except RefundNotAllowed as error:
            raise PermissionDenied(error.detail) from None
        except OrderError as error:  # not in this state, a carrier the shop lacks, …
            messages.error(request, gettext("Not done: %(detail)s") % {"detail": error.detail})
        else:
            messages.success(request, done % cleaned)
        return redirect("tracking:order", order_id=order_id)
    return render(
        request,
        "orders/order_action.html",
        {
            "order": order,
            "form": form,
            "title": title,
            "explanation": explanation,
            "confirm": confirm,
            "danger": danger,
            "carriers": ShipForm.known_carriers(order.shop_id),
        },
    )


#: what each step of a return runs, from the step form's cleaned data, and what it says
RETURN_STEPS: dict[str, tuple[Callable[..., object], str]] = {
    "approve": (
        lambda return_id, actor, data: returns.return_approve(return_id=return_id, actor=actor),
        gettext_lazy("Return R%(number)s approved; the customer is told to send it back."),
    ),
    "reject": (
        lambda return_id, actor, data: returns.return_reject(
            return_id=return_id, actor=actor, reason=data["reason"]
        ),
        gettext_lazy("Return R%(number)s rejected; the customer is told why."),
    ),
    "receive": (
        lambda return_id, actor, data: returns.return_receive(
            return_id=return_id, actor=actor, restock=data["restock"]
        ),
        gettext_lazy("Return R%(number)s received."),
    ),
    "refund": (
        lambda return_id, actor, data: returns.return_refund(
            return_id=return_id, actor=actor, amount=data["amount"]
        ),
        gettext_lazy("Return R%(number)s refunded; the customer is told."),
    ),
    "close": (
        lambda return_id, actor, data: returns.return_close(
            return_id=return_id, actor=actor, reason=data["reason"]
        ),
        gettext_lazy("Return R%(number)s closed without a refund."),
    ),
}


@require_POST
@roles.staff_permission_required(roles.VIEW)
def order_return_step(request, order_id: UUID, return_id: UUID, step: str):
    """Move a return on from the order page's Returns block (a POST; the role each step
    needs is ``permissions.RETURN_STEP_PERMISSIONS``). A step the return's state does not
    allow, or a refund the payment refuses, is a message on the order page; nothing changes.
    """
    if step not in RETURN_STEPS or not selectors.return_exists_for_order(
        order_id=order_id, return_id=return_id
    ):
        raise Http404("No such return of this order.")
    roles.require(request.user, permissions.RETURN_STEP_PERMISSIONS[step])
    back = redirect(reverse("tracking:order", args=[order_id]) + "#returns")
    form = ReturnStepForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Not done: %(detail)s") % {"detail": form.problems()})
        return back
    run, done = RETURN_STEPS[step]
    # no transaction here, as in _action: a declined refund is committed before it is shown
    try:
        order_return = run(return_id, _actor(request), form.cleaned_data)
    except OrderError as error:  # out of order, a reason missing, a refund refused
        messages.error(request, gettext("Not done: %(detail)s") % {"detail": error.detail})
    else:
        messages.success(request, done % {"number": order_return.number})
    return back


@require_POST
@roles.staff_permission_required(roles.VIEW)
def order_parcel_issue_resolve(request, order_id: UUID, shipment_id: UUID):
    """Mark a parcel's delivery exception handled, from the order page's summary (a POST
    with what was done, the ``note``): the order leaves the delivery-exceptions queue unless
    another parcel is in trouble. A parcel with nothing to handle, or a missing note, is a
    message on the order page; nothing changes."""
    roles.require(request.user, permissions.PARCEL_ISSUE_PERMISSION)
    try:
        parcel = parcel_issues.shipment_issue_resolve(
            order_id=order_id,
            shipment_id=shipment_id,
            actor=_actor(request),
            note=request.POST.get("note", ""),
        )
    except ObjectDoesNotExist:
        raise Http404("No such parcel of this order.") from None
    except OrderError as error:  # nothing to handle, handled already, no note
        messages.error(request, gettext("Not done: %(detail)s") % {"detail": error.detail})
    else:
        messages.success(
            request,
            gettext("The delivery exception of parcel %(number)s is marked handled.")
            % {"number": parcel.tracking_number},
        )
    return redirect(reverse("tracking:order", args=[order_id]) + "#summary")


@roles.staff_permission_required(roles.VIEW)
def order_return_create(request, order_id: UUID):
    """Open a return for the customer (who phoned or wrote): the API's rules and service,
    the units of each line and a reason; a refusal is shown on the form, nothing opened."""
    order = interface.order_details(order_id=order_id)
    if order is None:
        raise Http404("No such order.")
    roles.require(request.user, permissions.RETURN_REQUEST_PERMISSION)
    form = ReturnRequestForm(request.POST if request.method == "POST" else None, lines=order.lines)
    status = 200
    if form.is_bound:
        if form.is_valid():
            try:
                order_return = returns.return_request(
                    order_id=order_id,
                    shop_id=None,
                    lines=[returns.ReturnLineInput(sku, units) for sku, units in form.lines()],
                    reason=form.cleaned_data["reason"],
                    actor=_actor(request),
                )
            except OrderError as error:  # each problem in the reader's words, no field path
                for problem in getattr(error, "errors", None) or ():
                    form.add_error(None, problem.detail)
                if not getattr(error, "errors", None):
                    form.add_error(None, error.detail)
            else:
                messages.success(
                    request,
                    gettext("Return R%(number)s opened; the customer is told.")
                    % {"number": order_return.number},
                )
                return redirect(reverse("tracking:order", args=[order_id]) + "#returns")
        status = 400
    return render(
        request,
        "orders/order_action.html",
        {
            "order": order,
            "form": form,
            "title": gettext("Open a return"),
            "explanation": gettext(
                "The units the customer sends back, and why. The customer gets an e-mail "
                "saying the shop checks the request; approve or reject it next."
            ),
            "confirm": gettext("Open the return"),
        },
        status=status,
    )
