"""Support's view of returns: found by order number, e-mail or shop; moved on by actions.

The rows are read-only: each action runs the return's service (the same rules, events and
e-mails as the staff order page), under the staff roles' permissions.
"""

from django.contrib import admin, messages

from orderflow import admin_follow
from orderflow.admin import ReadOnlyAdmin

from .exceptions import OrderError
from .forms import ReturnActionForm
from .models import Return, ReturnLine
from .permissions import RETURN_STEP_PERMISSIONS
from .services import Actor, returns


class ReturnLineInline(admin.TabularInline):
    model = ReturnLine
    fields = ["sku", "quantity"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Return)
class ReturnAdmin(admin_follow.FollowsOrder, ReadOnlyAdmin):
    """Every return, its lines and who took each step."""

    list_display = [
        "__str__",
        "order_link",
        "shop_name",
        "status",
        "units",
        "reason",
        "refunded_amount",
        "requested_at",
    ]
    list_filter = ["status", "requested_at"]
    search_fields = ["reason"]
    list_select_related = ["order"]
    date_hierarchy = "requested_at"
    inlines = [ReturnLineInline]
    fields = [
        "order_link",
        "shop_name",
        "number",
        "status",
        "reason",
        "rejection_reason",
        "restock",
        "refunded_amount",
        "refund_id",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "received_by",
        "received_at",
        "settled_by",
        "settled_at",
    ]
    readonly_fields = fields
    order_fields = ["order_id"]
    shop_fields = ["shop_id"]
    actions = ["approve_returns", "reject_returns", "receive_and_restock", "receive_no_restock"]
    action_form = ReturnActionForm

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lines")

    @admin.display(description="Units")
    def units(self, order_return: Return) -> str:
        return ", ".join(f"{line.quantity} x {line.sku}" for line in order_return.lines.all())

    def has_handle_permission(self, request) -> bool:
        return request.user.has_perm(RETURN_STEP_PERMISSIONS["approve"])

    @admin.action(description="Approve selected returns", permissions=["handle"])
    def approve_returns(self, request, queryset):
        self._each(request, queryset, "Approved", returns.return_approve)

    @admin.action(
        description="Reject selected returns (type the reason first)", permissions=["handle"]
    )
    def reject_returns(self, request, queryset):
        """Reject with the reason typed in the action bar: the customer reads it in the
        e-mail and on the tracking page, as a rejection from the staff order page. Without
        one, or a longer one than a return keeps, nothing is rejected."""
        reason = request.POST.get("reason", "").strip()
        if not reason:
            self.message_user(
                request,
                "Not rejected: type the reason in the Reason box beside the action; "
                "the customer reads it.",
                messages.ERROR,
            )
            return
        if len(reason) > returns.REASON_MAX_LENGTH:
            self.message_user(
                request,
                f"Not rejected: the reason has {len(reason)} characters; at most "
                f"{returns.REASON_MAX_LENGTH} are kept, so shorten it.",
                messages.ERROR,
            )
            return
        self._each(request, queryset, "Rejected", returns.return_reject, reason=reason)

    @admin.action(description="Mark received, units back on hand", permissions=["handle"])
    def receive_and_restock(self, request, queryset):
        self._each(request, queryset, "Received", returns.return_receive, restock=True)

    @admin.action(description="Mark received, not restocked", permissions=["handle"])
    def receive_no_restock(self, request, queryset):
        self._each(request, queryset, "Received", returns.return_receive, restock=False)

    def _each(self, request, queryset, done: str, step, **kwargs) -> None:
        actor = Actor(kind="staff", name=request.user.get_username())
        moved, refused = 0, []
        for order_return in queryset.select_related("order"):
            try:
                step(return_id=order_return.pk, actor=actor, **kwargs)
                moved += 1
            except OrderError as error:
                refused.append(f"{order_return}: {error.detail}")
                continue
            # the admin's history of the return: who moved it on from here, and the reason
            self.log_change(
                request,
                order_return,
                f"{done}: {kwargs['reason']}" if "reason" in kwargs else done,
            )
        if moved:
            self.message_user(request, f"{done}: {moved} return(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)
