"""Tracking history for support: read-only, written only by the tracking subscribers.

Rows are found by the order's number, the customer's e-mail or the shop (their own columns,
and ``orderflow.admin_follow`` for the shop's reference and name); each entry names who
acted.
"""

from django.contrib import admin

from orderflow import admin_follow
from orderflow.admin import ReadOnlyAdmin

from .models import TrackedOrder, TrackingEntry


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
    inlines = [TrackingEntryInline]
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
