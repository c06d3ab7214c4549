"""Support's view of payments, refunds and invoices: evidence, never edited by hand.

Each row names its order (linked) and shop, and is found by the order's number, the
customer's e-mail or the shop's name (``orderflow.admin_follow``).
"""

from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse
from django.utils.html import format_html

from orderflow import admin_follow, roles
from orderflow.admin import ReadOnlyAdmin

from . import services
from .exceptions import PaymentError
from .forms import RefundActionForm
from .models import Invoice, Payment, PaymentAttempt, Refund


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class PaymentAttemptInline(ReadOnlyInline):
    model = PaymentAttempt
    fields = ["created_at", "operation", "outcome", "reference", "detail", "delivery_attempt"]
    readonly_fields = fields


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = [
        "created_at",
        "amount",
        "currency",
        "status",
        "gateway_reference",
        "reason",
        "lines",
        "restock",
        "credit_note_link",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("credit_note")

    @admin.display(description="credit note")
    def credit_note_link(self, refund: Refund) -> str:
        credit_note = getattr(refund, "credit_note", None)
        if credit_note is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:payments_invoice_change", args=[credit_note.pk]),
            credit_note.number,
        )


@admin.register(Payment)
class PaymentAdmin(admin_follow.FollowsOrder, ReadOnlyAdmin):
    list_display = [
        "order_link",
        "shop_name",
        "amount",
        "refunded_amount",
        "currency",
        "status",
        "mode",
        "decline_code",
        "created_at",
    ]
    list_filter = ["status", "mode", "currency", "created_at"]
    search_fields = ["=id", "gateway_reference", "authorization_reference"]
    date_hierarchy = "created_at"
    inlines = [PaymentAttemptInline, RefundInline]
    fields = [
        "order_link",
        "shop_name",
        "id",
        "status",
        "mode",
        "amount",
        "refunded_amount",
        "currency",
        "authorization_reference",
        "gateway_reference",
        "decline_code",
        "failure_reason",
        "created_at",
        "captured_at",
        "updated_at",
    ]
    readonly_fields = fields
    order_fields = ["order_id"]
    shop_fields = ["shop_id"]
    actions = ["refund_the_rest"]
    action_form = RefundActionForm

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm(roles.REFUND)

    @admin.action(
        description="Refund what is left of the selected payments", permissions=["refund"]
    )
    def refund_the_rest(self, request, queryset):
        """Give back what is left of each captured payment (a refund after delivery, for
        support); each one through the refund service, so its rules and events hold. With
        the action bar's restock box, what is left is the units not refunded yet, back on
        hand."""
        by = f"staff:{request.user.get_username()}"
        restock = request.POST.get("restock") == "on"
        for payment in queryset.order_by("created_at"):
            try:
                refund = services.payment_refund_the_rest(
                    order_id=payment.order_id,
                    reason=f"Refunded by support ({by})",
                    restock=restock,
                    actor=by,
                )
            except PaymentError as error:
                self.message_user(request, f"{payment.order_id}: {error.detail}", messages.ERROR)
                continue
            except ObjectDoesNotExist:
                self.message_user(
                    request, f"{payment.order_id}: the order does not exist.", messages.ERROR
                )
                continue
            credit_note = getattr(refund, "credit_note", None)
            self.message_user(
                request,
                f"Refunded {refund.amount} {refund.currency} of {payment.order_id}"
                + (f", credit note {credit_note.number}" if credit_note else "")
                + ("; the units are back on hand." if refund.restock else "."),
            )


@admin.register(Invoice)
class InvoiceAdmin(admin_follow.FollowsOrder, ReadOnlyAdmin):
    list_display = [
        "number",
        "kind",
        "order_link",
        "shop_name",
        "total",
        "currency",
        "issued_at",
        "printable",
    ]
    list_filter = ["kind", "year", "issued_at"]
    search_fields = ["number", "=order_number"]
    date_hierarchy = "issued_at"
    # the documents' parties and lines are shown as read, never as JSON to type into
    exclude = ["seller", "buyer", "lines"]
    readonly_fields = [
        "order_link",
        "shop_name",
        "printable",
        "seller_pretty",
        "buyer_pretty",
        "lines_pretty",
    ]
    order_fields = ["order_id"]
    shop_fields = ["shop_id"]

    @admin.display(description="print")
    def printable(self, invoice: Invoice) -> str:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">open</a>',
            reverse("payments:invoice-print", args=[invoice.pk]),
        )

    @admin.display(description="seller")
    def seller_pretty(self, invoice: Invoice):
        return admin_follow.pretty_json(invoice.seller)

    @admin.display(description="buyer")
    def buyer_pretty(self, invoice: Invoice):
        return admin_follow.pretty_json(invoice.buyer)

    @admin.display(description="lines")
    def lines_pretty(self, invoice: Invoice):
        return admin_follow.pretty_json(invoice.lines)
