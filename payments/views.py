"""Staff pages of the payments context."""

from uuid import UUID

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.formats import localize
from django.utils.translation import gettext

from orderflow import roles
from orders.interface import order_details

from . import selectors, services
from .exceptions import PaymentError
from .forms import RefundForm
from .models import Invoice, Payment


@roles.staff_permission_required(roles.VIEW)
def invoice_print(request, invoice_id: UUID):
    """A printable invoice or credit note (the browser's print dialog makes the PDF)."""
    try:
        invoice = selectors.invoice_get(invoice_id=invoice_id)
    except Invoice.DoesNotExist:
        raise Http404("No such invoice.") from None
    return render(request, "payments/invoice_print.html", {"invoice": invoice})


@roles.staff_permission_required(roles.REFUND)
def order_refund(request, order_id: UUID):
    """Staff give back part or the rest of an order's captured payment (a form; the refund
    service decides, under the payment's lock)."""
    order = order_details(order_id=order_id)
    payment = Payment.objects.filter(order_id=order_id).first()
    if order is None or payment is None:
        raise Http404("No such order, or nothing was paid.")
    form = RefundForm(request.POST if request.method == "POST" else None, lines=order.lines)
    status = 200
    if form.is_bound:
        if form.is_valid():
            data = form.cleaned_data
            try:
                refund = services.payment_refund(
                    order_id=order_id,
                    shop_id=None,
                    amount=None if data["lines"] else data["amount"],
                    lines=[
                        services.RefundLine(sku=s, quantity=q) for s, q in data["lines"].items()
                    ],
                    reason=data["reason"],
                    restock=data["restock"],
                    actor=f"staff:{request.user.get_username()}",
                )
            except PaymentError as error:
                for problem in error.errors or ():
                    form.add_error(form.field_for(problem.attr), problem.detail)
                if not error.errors:
                    form.add_error(None, error.detail)
            else:
                messages.success(request, _refunded_message(refund))
                return redirect("tracking:order", order_id=order_id)
        status = 400
        payment.refresh_from_db()
    return render(
        request,
        "payments/refund.html",
        {
            "order": order,
            "payment": payment,
            "refundable": payment.amount - payment.refunded_amount,
            "form": form,
        },
        status=status,
    )


def _refunded_message(refund) -> str:
    message = gettext("Refunded %(amount)s %(currency)s; the customer is told.") % {
        "amount": localize(refund.amount),
        "currency": refund.currency,
    }
    credit_note = selectors.credit_note_of_refund(refund_id=refund.pk)
    if credit_note is not None:
        message += " " + gettext("Credit note %(number)s.") % {"number": credit_note.number}
    if refund.restock:
        message += " " + gettext("The units are back on hand.")
    return message
