"""Staff pages of the payments context."""

from uuid import UUID

from django.http import Http404
from django.shortcuts import render

from orderflow import roles

from . import selectors
from .models import Invoice


@roles.staff_permission_required(roles.VIEW)
def invoice_print(request, invoice_id: UUID):
    """A printable invoice or credit note (the browser's print dialog makes the PDF)."""
    try:
        invoice = selectors.invoice_get(invoice_id=invoice_id)
    except Invoice.DoesNotExist:
        raise Http404("No such invoice.") from None
    return render(request, "payments/invoice_print.html", {"invoice": invoice})
