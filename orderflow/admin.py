"""Support's view of the event machinery: events, deliveries, dead letters, projectors' parked
events and checkpoints, and the replay of what failed."""

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db.models import QuerySet

from . import admin_follow, roles
from .events.maintenance import dead_letter_replay
from .events.projectors import parked_event_replay, projector_retry_now
from .models import (
    DeadLetter,
    Delivery,
    DeliveryAttempt,
    InboxEntry,
    OutboxEvent,
    ParkedEvent,
    ProjectorCheckpoint,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the machinery are evidence: support reads them, never edits them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReplayActionAdmin(ReadOnlyAdmin):
    """Read-only evidence with actions that run the failed work again (replay, retry now).

    The actions need the staff supervisor's permission (``roles.REPLAY``), and the admin
    Django's change permission of the model's table (a proxy's too: ``change_delivery`` for
    dead letters); every field stays read-only.
    """

    def has_change_permission(self, request, obj=None) -> bool:
        table = self.opts.concrete_model._meta
        return request.user.has_perm(
            f"{table.app_label}.{get_permission_codename('change', table)}"
        )

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm(roles.REPLAY)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ["subscriber", "status", "attempts", "available_at", "done_at", "last_error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin_follow.FollowsOrder, ReadOnlyAdmin):
    list_display = [
        "type",
        "order_link",
        "shop_name",
        "actor",
        "aggregate",
        "sequence",
        "created_at",
        "published_at",
        "position",
    ]
    list_filter = ["type", "aggregate", ("published_at", admin.EmptyFieldListFilter)]
    search_fields = ["=event_id", "=aggregate_id", "=correlation_id", "=tenant_id"]
    date_hierarchy = "created_at"
    inlines = [DeliveryInline]
    # every event of an order (a payment's and an invoice's too) carries its id in its data
    order_fields = ["data__order_id"]
    shop_fields = ["tenant_id"]
    fields = [
        "event_id",
        "type",
        "version",
        "order_link",
        "shop_name",
        "actor",
        "aggregate",
        "aggregate_id",
        "sequence",
        "tenant_id",
        "occurred_at",
        "created_at",
        "published_at",
        "position",
        "correlation_id",
        "causation_id",
        "idempotency_key",
        "data_pretty",
        "trace_context_pretty",
    ]
    readonly_fields = fields

    @admin.display(description="actor")
    def actor(self, event: OutboxEvent) -> str:
        # who acted, as the event says (staff:ana, shop-key:…, carrier:…, system)
        return (event.data or {}).get("actor") or "—"

    @admin.display(description="data")
    def data_pretty(self, event: OutboxEvent):
        return admin_follow.pretty_json(event.data)

    @admin.display(description="trace context")
    def trace_context_pretty(self, event: OutboxEvent):
        return admin_follow.pretty_json(event.trace_context)


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ["number", "failed_at", "retryable", "next_attempt_at", "error", "traceback"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DeliveryAdminBase(admin_follow.FollowsOrder, ReadOnlyAdmin):
    list_display = [
        "id",
        "event_type",
        "order_link",
        "subscriber",
        "status",
        "attempts",
        "available_at",
        "short_error",
    ]
    list_filter = ["status", "subscriber", "event__type"]
    search_fields = ["=event__event_id", "=aggregate_id", "=event__tenant_id"]
    list_select_related = ["event"]
    inlines = [AttemptInline]
    order_fields = ["event__data__order_id"]
    shop_fields = ["event__tenant_id"]
    readonly_fields = [
        "order_link",
        "shop_name",
        "event",
        "subscriber",
        "aggregate",
        "aggregate_id",
        "sequence",
        "ordered",
        "priority",
        "status",
        "attempts",
        "available_at",
        "lease_until",
        "last_error",
        "created_at",
        "done_at",
        "dead_at",
        "replayed_at",
        "replayed_by",
    ]

    @admin.display(description="event type", ordering="event__type")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.display(description="last error")
    def short_error(self, delivery: Delivery) -> str:
        return delivery.last_error[:100]


@admin.register(Delivery)
class DeliveryAdmin(DeliveryAdminBase):
    date_hierarchy = "created_at"


class ShopFilter(admin.SimpleListFilter):
    title = "shop"
    parameter_name = "shop"

    def lookups(self, request, model_admin):
        tenants = list(
            DeadLetter.objects.exclude(event__tenant_id="")
            .values_list("event__tenant_id", flat=True)
            .distinct()
        )
        names = admin_follow.directory().shops([int(t) for t in tenants if t.isdigit()])
        return [(t, names.get(int(t), f"shop {t}") if t.isdigit() else t) for t in sorted(tenants)]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        return queryset.filter(event__tenant_id=self.value()) if self.value() else queryset


@admin.register(DeadLetter)
class DeadLetterAdmin(DeliveryAdminBase, ReplayActionAdmin):
    list_display = [
        "id",
        "event_type",
        "order_link",
        "subscriber",
        "attempts",
        "dead_at",
        "replayed_by",
        "short_error",
    ]
    list_filter = ["subscriber", "event__type", ShopFilter, "dead_at"]
    date_hierarchy = "dead_at"
    actions = ["replay"]

    @admin.action(description="Replay selected dead letters", permissions=["replay"])
    def replay(self, request, queryset):
        replayed = dead_letter_replay(
            delivery_ids=list(queryset.values_list("pk", flat=True)),
            actor=f"staff:{request.user.get_username()}",
        )
        self.message_user(
            request,
            f"Replayed {replayed} dead letter(s); they run again as new deliveries.",
            messages.SUCCESS,
        )


@admin.register(InboxEntry)
class InboxEntryAdmin(ReadOnlyAdmin):
    list_display = ["event_id", "subscriber", "processed_at"]
    list_filter = ["subscriber"]
    search_fields = ["=event_id"]


@admin.register(ParkedEvent)
class ParkedEventAdmin(admin_follow.FollowsOrder, ReplayActionAdmin):
    """A projector's dead letters: events it failed on for good while its checkpoint moved on."""

    list_display = [
        "id",
        "event_type",
        "order_link",
        "projector",
        "attempts",
        "parked_at",
        "replayed_at",
        "replayed_by",
        "short_error",
    ]
    order_fields = ["event__data__order_id"]
    shop_fields = ["event__tenant_id"]
    list_filter = [
        "projector",
        "event__type",
        ("replayed_at", admin.EmptyFieldListFilter),
        "parked_at",
    ]
    search_fields = ["=event__event_id", "=event__aggregate_id", "=event__tenant_id"]
    list_select_related = ["event"]
    date_hierarchy = "parked_at"
    readonly_fields = [
        "order_link",
        "shop_name",
        "projector",
        "event",
        "position",
        "attempts",
        "parked_at",
        "error",
        "traceback",
        "replayed_at",
        "replayed_by",
    ]
    actions = ["replay"]

    @admin.display(description="event type", ordering="event__type")
    def event_type(self, parked: ParkedEvent) -> str:
        return parked.event.type

    @admin.display(description="last error")
    def short_error(self, parked: ParkedEvent) -> str:
        return parked.error[:100]

    @admin.action(description="Replay selected parked events", permissions=["replay"])
    def replay(self, request, queryset):
        chosen = list(queryset.filter(replayed_at__isnull=True).values_list("pk", flat=True))
        replayed = parked_event_replay(
            parked_ids=chosen, actor=f"staff:{request.user.get_username()}"
        )
        self.message_user(
            request,
            f"Replayed {replayed} parked event(s); their projectors applied them again.",
            messages.SUCCESS,
        )
        if len(chosen) > replayed:
            self.message_user(
                request,
                f"{len(chosen) - replayed} parked event(s) failed again and stay parked.",
                messages.ERROR,
            )


@admin.register(ProjectorCheckpoint)
class ProjectorCheckpointAdmin(ReplayActionAdmin):
    list_display = ["name", "position", "attempts", "retry_at", "failing_event_id", "updated_at"]
    actions = ["retry_now"]

    @admin.action(description="Retry the failing event now", permissions=["replay"])
    def retry_now(self, request, queryset):
        retried = projector_retry_now(names=list(queryset.values_list("name", flat=True)))
        self.message_user(
            request,
            f"{retried} projector(s) retry their failing event now.",
            messages.SUCCESS,
        )

    readonly_fields = [
        "name",
        "position",
        "attempts",
        "retry_at",
        "failing_event_id",
        "last_error",
        "updated_at",
    ]
