"""Support's view of payments, refunds and invoices: evidence, never edited by hand.

Each row names its order (linked) and shop, and is found by the order's number, the
customer's e-mail or the shop's name (``orderflow.admin_follow``).
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from orderflow import admin_follow
from orderflow.admin import ReadOnlyAdmin

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
    fields = ["created_at", "amount", "currency", "status", "gateway_reference", "reason"]
    readonly_fields = fields


@admin.register(Payment)
class PaymentAdmin(admin_follow.FollowsOrder, ReadOnlyAdmin):
    list_display = [
        "order_link",
        "shop_name",
        "amount",
        "refunded_amount",
        "currency",
        "status",
        "decline_code",
        "created_at",
    ]
    list_filter = ["status", "currency", "created_at"]
    search_fields = ["=id", "gateway_reference", "authorization_reference"]
    date_hierarchy = "created_at"
    inlines = [PaymentAttemptInline, RefundInline]
    fields = [
        "order_link",
        "shop_name",
        "id",
        "status",
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
