"""Support's view of payments, refunds and invoices: evidence, never edited by hand."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

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
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "order_id",
        "shop_id",
        "amount",
        "currency",
        "status",
        "decline_code",
        "created_at",
    ]
    list_filter = ["status", "currency", "shop_id"]
    search_fields = ["=order_id", "=id", "gateway_reference"]
    date_hierarchy = "created_at"
    inlines = [PaymentAttemptInline, RefundInline]


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "kind",
        "shop_id",
        "order_number",
        "total",
        "currency",
        "issued_at",
        "printable",
    ]
    list_filter = ["kind", "year", "shop_id"]
    search_fields = ["number", "order_number", "=order_id"]
    date_hierarchy = "issued_at"

    @admin.display(description="print")
    def printable(self, invoice: Invoice) -> str:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">open</a>',
            reverse("payments:invoice-print", args=[invoice.pk]),
        )
