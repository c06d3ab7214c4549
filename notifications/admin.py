"""Support's view of e-mails and webhooks. Actions call services; nothing is sent by hand here.

Each e-mail and delivery names its order (linked) and shop, and is found by the order's
number, the customer's e-mail or the shop's name (``orderflow.admin_follow``). An endpoint
is deactivated or has its secret revoked, never deleted: its delivery log is the evidence.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from orderflow import admin_follow, roles
from orderflow.admin import ReadOnlyAdmin
from orderflow.errors import DomainError

from . import services
from .models import Notification, WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(Notification)
class NotificationAdmin(admin_follow.FollowsOrder, ReadOnlyAdmin):
    list_display = [
        "created_at",
        "order_link",
        "shop_name",
        "template",
        "recipient",
        "status",
        "attempts",
        "sent_count",
        "sent_at",
        "last_error",
    ]
    list_filter = ["status", "channel", "template", "event_type", "created_at"]
    search_fields = ["recipient", "=event_id", "subject"]
    date_hierarchy = "created_at"
    order_fields = ["order_id"]
    shop_fields = ["shop_id"]
    readonly_fields = [
        "order_link",
        "shop_name",
        "event_id",
        "event_type",
        "channel",
        "template",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "sent_count",
        "last_error",
        "recipient",
        "from_email",
        "reply_to",
        "subject",
        "body_text",
        "html_preview",
        "data_pretty",
        "created_at",
    ]
    exclude = ["body_html", "lease_until", "data", "trace_context", "shop_id", "order_id"]
    actions = ["resend"]

    @admin.display(description="HTML body")
    def html_preview(self, notification: Notification):
        if not notification.body_html:
            return "—"
        # sandboxed: the e-mail is shown, never allowed to run anything in the admin
        return format_html(
            '<iframe sandbox srcdoc="{}" style="width:100%;height:480px;border:1px solid #ccc">'
            "</iframe>",
            notification.body_html,
        )

    @admin.display(description="the event's data")
    def data_pretty(self, notification: Notification):
        return admin_follow.pretty_json(notification.data)

    def has_resend_permission(self, request) -> bool:
        # sends again to a customer: the staff role's permission, as on the order page
        return request.user.has_perm(roles.RESEND_EMAIL)

    @admin.action(description="Send the selected e-mails again", permissions=["resend"])
    def resend(self, request, queryset):
        actor = f"staff:{request.user.get_username()}"
        for notification in queryset:
            services.email_notification_resend(notification=notification, actor=actor)
        self.message_user(request, f"{queryset.count()} e-mail(s) queued again.", messages.SUCCESS)


class WebhookEndpointAdminForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None checked means all.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["shop_id", "url", "description", "event_types", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = [(t, t) for t in services.shop_event_types()]
        if not self.instance._state.adding:
            self.fields["shop_id"].disabled = True  # an endpoint never moves to another shop

    def clean_url(self) -> str:
        try:
            return services.webhook_url_validate(self.cleaned_data["url"])
        except DomainError as error:
            raise ValidationError(error.detail, code="unsafe_url") from None

    def clean_shop_id(self) -> int:
        shop_id = self.cleaned_data["shop_id"]
        if self.instance._state.adding:
            try:
                services.webhook_endpoint_room_check(shop_id=shop_id)
            except DomainError as error:
                raise ValidationError(error.detail, code="limit") from None
        return shop_id


class ReplaySinceForm(forms.Form):
    since = forms.DateTimeField(
        help_text="Every delivery recorded since then is sent again (YYYY-MM-DD HH:MM, UTC)."
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin_follow.FollowsOrder, admin.ModelAdmin):
    """A shop's endpoint: deactivated (the "active" box) or its secret revoked, never deleted.

    Deleting an endpoint would delete its deliveries and their log, the evidence of what the
    shop was sent; a leaked secret is revoked (a new one at once, the old one dead).
    """

    form = WebhookEndpointAdminForm
    list_display = [
        "url",
        "shop_name",
        "active",
        "failing_since",
        "disabled_at",
        "previous_secret_expires_at",
        "created_at",
    ]
    list_filter = ["active", ("failing_since", admin.EmptyFieldListFilter)]
    search_fields = ["url", "=shop_id", "description"]
    shop_fields = ["shop_id"]
    readonly_fields = [
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
    ]
    actions = ["send_test_event", "rotate_secret", "revoke_secret", "replay_since"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.webhook_endpoint_update(
                endpoint=obj,
                url=data["url"],
                event_types=list(data["event_types"]),
                description=data["description"],
                active=data["active"],
            )
            return
        endpoint, secret = services.webhook_endpoint_create(
            shop_id=data["shop_id"],
            url=data["url"],
            event_types=list(data["event_types"]),
            description=data["description"],
            active=data["active"],
        )
        obj.pk = endpoint.pk
        self._show_secret(request, endpoint, secret)

    def _show_secret(self, request, endpoint: WebhookEndpoint, secret: str) -> None:
        messages.warning(
            request,
            format_html(
                "The signing secret of {} is <code>{}</code>. Give it to the shop now: it "
                "is not shown again.",
                endpoint.url,
                secret,
            ),
        )

    @admin.action(description="Send a test event", permissions=["change"])
    def send_test_event(self, request, queryset):
        for endpoint in queryset:
            try:
                services.webhook_endpoint_send_test(endpoint=endpoint)
            except DomainError as error:
                self.message_user(request, f"{endpoint.url}: {error.detail}", messages.ERROR)
            else:
                self.message_user(request, f"{endpoint.url}: test event queued.", messages.SUCCESS)

    @admin.action(
        description="Rotate the signing secret (the old one stays valid for a while)",
        permissions=["change"],
    )
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            rotated, secret = services.webhook_endpoint_rotate_secret(endpoint=endpoint)
            self._show_secret(request, rotated, secret)

    @admin.action(
        description="Revoke the signing secret now (after a leak: the old one stops at once)",
        permissions=["change"],
    )
    def revoke_secret(self, request, queryset):
        for endpoint in queryset:
            rotated, secret = services.webhook_endpoint_rotate_secret(
                endpoint=endpoint, keep_previous_for=timedelta(0)
            )
            self._show_secret(request, rotated, secret)

    def has_replay_permission(self, request) -> bool:
        # replaying sends again: the staff supervisor's permission, as for dead letters
        return request.user.has_perm(roles.REPLAY)

    @admin.action(description="Replay deliveries since a time…", permissions=["replay"])
    def replay_since(self, request, queryset):
        form = ReplaySinceForm(
            request.POST if "since" in request.POST else None,
            initial={"since": timezone.now() - timedelta(hours=24)},
        )
        if form.is_valid():
            for endpoint in queryset:
                try:
                    count = services.webhook_deliveries_replay_since(
                        endpoint=endpoint, since=form.cleaned_data["since"]
                    )
                except DomainError as error:
                    self.message_user(request, f"{endpoint.url}: {error.detail}", messages.ERROR)
                else:
                    self.message_user(
                        request, f"{endpoint.url}: {count} deliveries replayed.", messages.SUCCESS
                    )
            return None
        return TemplateResponse(
            request,
            "admin/notifications/replay_since.html",
            {
                **self.admin_site.each_context(request),
                "title": "Replay webhook deliveries",
                "form": form,
                "endpoints": queryset,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = [
        "number",
        "started_at",
        "outcome",
        "status_code",
        "duration_ms",
        "error",
        "response_body",
        "request_id",
        "next_attempt_at",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin_follow.FollowsOrder, ReadOnlyAdmin):
    list_display = [
        "created_at",
        "event_type",
        "order_link",
        "shop_name",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "sent_at",
    ]
    list_filter = ["status", "event_type", "created_at"]
    search_fields = ["=event_id", "=endpoint__shop_id", "endpoint__url"]
    date_hierarchy = "created_at"
    list_select_related = ["endpoint"]
    # the order's events carry its id in their data (a payment's or an invoice's too)
    order_fields = ["payload__data__order_id"]
    shop_fields = ["endpoint__shop_id"]
    readonly_fields = [
        "order_link",
        "shop_name",
        "endpoint",
        "event_id",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "sent_at",
        "replayed_at",
        "payload_pretty",
    ]
    exclude = ["lease_until", "payload", "trace_context"]
    inlines = [WebhookAttemptInline]
    actions = ["replay"]

    def has_replay_permission(self, request) -> bool:
        # replaying sends again: the staff supervisor's permission, as for dead letters
        return request.user.has_perm(roles.REPLAY)

    @admin.display(description="payload (as sent)")
    def payload_pretty(self, delivery: WebhookDelivery):
        return admin_follow.pretty_json(delivery.payload)

    @admin.action(description="Replay the selected deliveries", permissions=["replay"])
    def replay(self, request, queryset):
        replayed = 0
        for delivery in queryset.select_related("endpoint"):
            try:
                services.webhook_delivery_replay(delivery=delivery)
            except DomainError as error:
                self.message_user(request, f"{delivery}: {error.detail}", messages.ERROR)
            else:
                replayed += 1
        self.message_user(request, f"{replayed} deliveries replayed.", messages.SUCCESS)
