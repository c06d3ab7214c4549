"""Tracking history for support: read-only, written only by the tracking subscribers.

Rows are found by the order's number, the customer's e-mail or the shop (their own columns,
and ``orderflow.admin_follow`` for the shop's reference and name); each entry names who
acted.
"""

from django.contrib import admin

from orderflow import admin_follow
from orderflow.admin import ReadOnlyAdmin

from .models import OrderNote, TrackedOrder, TrackingEntry


class TrackingEntryInline(admin.TabularInline):
    model = TrackingEntry
    fields = [
        "occurred_at",
        "status",
        "actor",
        "sequence",
        "aggregate",
        "source",
        "note",
        "location",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["occurred_at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class OrderNoteInline(admin.TabularInline):
    """The order's internal notes, as staff wrote them on the order page (read-only here)."""

    model = OrderNote
    fields = ["created_at", "author", "body"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TrackedOrder)
class TrackedOrderAdmin(admin_follow.FollowsOrder, ReadOnlyAdmin):
    list_display = [
        "number",
        "order_link",
        "shop_name",
        "status",
        "sequence",
        "customer_email",
        "updated_at",
    ]
    list_filter = ["status", "shop_name"]
    search_fields = ["number", "customer_email", "tracking_number", "=order_id"]
    date_hierarchy = "placed_at"
    inlines = [TrackingEntryInline, OrderNoteInline]
    order_fields = ["order_id"]
    shop_fields = ["shop_id"]


@admin.register(TrackingEntry)
class TrackingEntryAdmin(admin_follow.FollowsOrder, ReadOnlyAdmin):
    list_display = ["order", "shop_name", "status", "actor", "sequence", "source", "occurred_at"]
    list_filter = ["status", "source", "aggregate"]
    search_fields = ["order__number", "order__customer_email", "actor", "=event_id"]
    list_select_related = ["order"]
    order_fields = ["order_id"]
    shop_fields = ["shop_id"]


@admin.register(OrderNote)
class OrderNoteAdmin(admin_follow.FollowsOrder, ReadOnlyAdmin):
    """Staff's internal notes: written on the order page (which tells its open pages), read
    here; found by the order's number, the customer's e-mail, the author or the text."""

    list_display = ["created_at", "order", "order_link", "author", "body"]
    search_fields = ["order__number", "order__customer_email", "author", "body"]
    list_select_related = ["order"]
    date_hierarchy = "created_at"
    order_fields = ["order_id"]
    shop_fields = ["order__shop_id"]
