"""Tracking history for support: read-only, written only by the tracking subscribers."""

from django.contrib import admin

from orderflow.admin import ReadOnlyAdmin

from .models import TrackedOrder, TrackingEntry


class TrackingEntryInline(admin.TabularInline):
    model = TrackingEntry
    fields = ["occurred_at", "status", "sequence", "aggregate", "source", "note", "location"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["occurred_at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TrackedOrder)
class TrackedOrderAdmin(ReadOnlyAdmin):
    list_display = ["number", "shop_name", "status", "sequence", "customer_email", "updated_at"]
    list_filter = ["status", "shop_name"]
    search_fields = ["number", "customer_email", "tracking_number", "=order_id"]
    date_hierarchy = "placed_at"
    inlines = [TrackingEntryInline]


@admin.register(TrackingEntry)
class TrackingEntryAdmin(ReadOnlyAdmin):
    list_display = ["order", "status", "sequence", "source", "occurred_at"]
    list_filter = ["status", "source", "aggregate"]
    search_fields = ["order__number", "=event_id"]
    list_select_related = ["order"]
