"""Support's view of shops, keys, catalog and orders. Status is never edited by hand here.

From an order's page, support follows it everywhere with one click each: its payment,
invoices, parcel reports, e-mails, webhook deliveries, events and timeline. This module also
tells the kernel how to read a search term as orders and shops (``orderflow.admin_follow``),
so every other context's admin finds its rows by order number, e-mail or shop.
"""

from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy
from rest_framework_api_key.models import APIKey

from orderflow import admin_follow, roles
from orderflow.admin import ReadOnlyAdmin

from . import selectors, services, state_machine
from .api.serializers import OrderCustomerInputSerializer, ShippingAddressSerializer
from .exceptions import RefundNotAllowed
from .forms import CONTACT_RULES, ApiCheckedForm
from .models import (
    CarrierReport,
    Order,
    OrderLine,
    OrderTransition,
    Product,
    Shipment,
    Shop,
    ShopAPIKey,
    ShopCarrier,
)


def _matching(term: str) -> admin_follow.Matches:
    order_ids, shop_ids = selectors.order_ids_and_shop_ids_matching(term)
    return admin_follow.Matches(order_ids=tuple(order_ids), shop_ids=tuple(shop_ids))


def _orders(order_ids) -> dict[UUID, admin_follow.OrderRef]:
    return {
        order_id: admin_follow.OrderRef(order_id, number, shop_id, shop_name)
        for order_id, number, shop_id, shop_name in selectors.order_numbers_and_shops(order_ids)
    }


admin_follow.directory_set(
    admin_follow.Directory(matching=_matching, orders=_orders, shops=selectors.shop_names)
)

# The library's own key model is not used (a shop's keys are ``ShopAPIKey``): one section
# for API keys, not two.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


class ShopAPIKeyInline(admin.TabularInline):
    model = ShopAPIKey
    extra = 0
    fields = ["name", "prefix", "created", "last_used_at", "expiry_date", "revoked"]
    readonly_fields = ["name", "prefix", "created", "last_used_at", "expiry_date", "revoked"]
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        # a key's secret is shown once, on the key's own add page
        return False


class ShopCarrierInline(admin.TabularInline):
    """The carriers the shop ships with: only these carry its parcels and report on them."""

    model = ShopCarrier
    extra = 0
    fields = ["carrier", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "currency", "contact_email", "created_at"]
    search_fields = ["name", "slug", "contact_email"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [ShopCarrierInline, ShopAPIKeyInline]


@admin.register(ShopAPIKey)
class ShopAPIKeyAdmin(admin.ModelAdmin):
    """A shop's API keys: created here (shown once), revoked, never deleted.

    A revoked key stays, as the record of who could call the API and until when; deleting
    one would erase that, so there is no "Delete" — "Revoke" is the action.
    """

    list_display = ["name", "shop", "prefix", "created", "last_used_at", "expiry_date", "revoked"]
    list_filter = ["revoked", "shop"]
    list_select_related = ["shop"]
    search_fields = ["name", "prefix", "shop__name", "shop__slug"]
    readonly_fields = ["prefix", "created", "last_used_at"]
    actions = ["revoke_keys"]
    change_form_template = "admin/orders/shopapikey/change_form.html"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["shop", "name", "expiry_date"]
        return ["shop", "name", "prefix", "created", "last_used_at", "expiry_date", "revoked"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["shop", "prefix", "created", "last_used_at", "revoked"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        api_key, raw_key = services.api_key_create(shop=obj.shop, name=obj.name)
        if obj.expiry_date:
            api_key.expiry_date = obj.expiry_date
            api_key.save(update_fields=["expiry_date"])
        obj.pk = api_key.pk
        messages.warning(
            request,
            format_html(
                "The new API key is <code>{}</code>. Copy it now: it is stored hashed and "
                "will not be shown again.",
                raw_key,
            ),
        )

    def response_change(self, request, obj):
        if "_revoke" in request.POST:
            if obj.revoked:
                self.message_user(request, f"{obj.name} was already revoked.", messages.INFO)
            else:
                services.api_key_revoke(api_key=obj)
                self.message_user(
                    request,
                    f"Revoked {obj.name} ({obj.prefix}…): it no longer opens the API.",
                    messages.SUCCESS,
                )
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    @admin.action(description="Revoke selected keys (cannot be undone)")
    def revoke_keys(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked=False):
            services.api_key_revoke(api_key=api_key)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)


class ProductAdminForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["shop", "sku", "name", "price", "currency", "on_hand"]

    def clean_on_hand(self) -> int:
        # Names the rule instead of letting the database's check constraint end in a 500;
        # the constraint still guards against the saga reserving meanwhile.
        on_hand = self.cleaned_data["on_hand"]
        reserved = self.instance.reserved if self.instance.pk else 0
        if on_hand < 0:
            raise forms.ValidationError("Must not be negative.", code="min_value")
        if on_hand < reserved:
            raise forms.ValidationError(
                "Must be at least %(reserved)d: units are reserved for open orders.",
                code="below_reserved",
                params={"reserved": reserved},
            )
        return on_hand


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
    list_display = ["sku", "name", "shop", "price", "currency", "on_hand", "reserved", "available"]
    list_editable = ["on_hand"]
    list_filter = ["shop"]
    search_fields = ["sku", "name"]
    readonly_fields = ["reserved", "created_at", "updated_at"]

    def get_changelist_form(self, request, **kwargs):
        # the list's editable stock column gets the same check as the change page
        kwargs.setdefault("form", ProductAdminForm)
        return super().get_changelist_form(request, **kwargs)


class OrderAmendForm(ApiCheckedForm, forms.ModelForm):
    """The order's customer and shipping address as fields, checked by the API's serializers.

    The fields carry no rules of their own: the API's serializers are the one place that
    says what a customer and an address may be, whoever writes the order. (``name`` and
    ``email``, not the model's field names, so that the form never writes the instance.)
    Even "required" is theirs, and only for what is being changed.
    """

    api_rules = {
        "name": CONTACT_RULES["customer_name"],
        "email": CONTACT_RULES["customer_email"],
        **{name: CONTACT_RULES[name] for name in services.ADDRESS_FIELDS},
    }

    name = forms.CharField(label="Customer name", required=False)
    email = forms.CharField(label="Customer e-mail", required=False, widget=forms.EmailInput)
    line1 = forms.CharField(label="Address", required=False)
    line2 = forms.CharField(label="Address, second line", required=False)
    city = forms.CharField(required=False)
    region = forms.CharField(required=False)
    postal_code = forms.CharField(label="Postal code", required=False)
    country = forms.CharField(required=False, help_text="Two capital letters (ISO 3166), e.g. BR.")

    class Meta:
        model = Order
        fields: list[str] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        order = self.instance
        address = order.shipping_address if isinstance(order.shipping_address, dict) else {}
        self.initial.update(
            name=order.customer_name,
            email=order.customer_email,
            **{name: str(address.get(name, "")) for name in services.ADDRESS_FIELDS},
        )

    def api_checks(self, fields: dict[str, str]) -> bool:
        # Only what is being changed: a customer can still be corrected on a shipped order
        # whose stored address predates these rules (and can no longer change).
        return bool(set(fields) & set(self.changed_data))

    def customer_changed(self) -> bool:
        return bool({"name", "email"} & set(self.changed_data))

    def shipping_address_changed(self) -> bool:
        return bool(set(services.ADDRESS_FIELDS) & set(self.changed_data))

    def customer(self) -> dict:
        return self.api_validated[OrderCustomerInputSerializer]

    def shipping_address(self) -> dict:
        return self.api_validated[ShippingAddressSerializer]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = ["sku", "name", "unit_price", "quantity", "line_total"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ShipmentInline(admin.TabularInline):
    """The order's parcels, read-only: carriers' reports and staff's actions move them.

    Its columns are worded here, in the staff member's language (the model's field names
    are English, and naming them there would be a migration for words only).
    """

    model = Shipment
    extra = 0
    fields = [
        "shipped_at",
        "parcel_carrier",
        "parcel_service",
        "parcel_tracking_number",
        "parcel_status",
        "parcel_eta",
        "contents",
    ]
    readonly_fields = fields
    can_delete = False
    verbose_name = gettext_lazy("parcel")
    verbose_name_plural = gettext_lazy("parcels")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lines")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=gettext_lazy("Shipped at"))
    def shipped_at(self, shipment: Shipment):
        return shipment.created_at

    @admin.display(description=gettext_lazy("Carrier"))
    def parcel_carrier(self, shipment: Shipment) -> str:
        return shipment.carrier

    @admin.display(description=gettext_lazy("Service"))
    def parcel_service(self, shipment: Shipment) -> str:
        return shipment.service

    @admin.display(description=gettext_lazy("Tracking number"))
    def parcel_tracking_number(self, shipment: Shipment) -> str:
        return shipment.tracking_number

    @admin.display(description=gettext_lazy("Status"))
    def parcel_status(self, shipment: Shipment) -> str:
        return shipment.get_status_display()

    @admin.display(description=gettext_lazy("ETA"))
    def parcel_eta(self, shipment: Shipment):
        return shipment.eta

    @admin.display(description=gettext_lazy("Contents"))
    def contents(self, shipment: Shipment) -> str:
        return ", ".join(f"{line.quantity} x {line.sku}" for line in shipment.lines.all())


#: where an order's support rows are, as (label, admin list, how it finds the order's rows)
FOLLOW_LINKS = [
    ("Payment and refunds", "payments_payment"),
    ("Invoices and credit notes", "payments_invoice"),
    ("Parcel reports from carriers", "orders_carrierreport"),
    ("E-mails to the customer", "notifications_notification"),
    ("Webhook deliveries to the shop", "notifications_webhookdelivery"),
    ("Events", "orderflow_outboxevent"),
    ("Event handling (saga steps)", "orderflow_delivery"),
    ("Status changes", "orders_ordertransition"),
    ("Returns", "orders_return"),
]


def follow_links(order_id: UUID) -> list[tuple[str, str]]:
    """(label, URL) of every admin list holding the order's rows, and its timeline pages."""
    links = [
        (label, url)
        for label, model_label in FOLLOW_LINKS
        if (url := admin_follow.changelist_url(model_label, order=str(order_id)))
    ]
    links.append(
        ("Tracking history (timeline)", _url("admin:tracking_trackedorder_change", order_id))
    )
    links.append(("Staff order page", _url("tracking:order", order_id)))
    return [(label, url) for label, url in links if url]


def _url(name: str, order_id: UUID) -> str:
    try:
        return reverse(name, args=[order_id])
    except NoReverseMatch:
        return ""


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "shop", "status", "customer_email", "total", "currency", "created_at"]
    list_filter = ["status", "shop", "created_at"]
    search_fields = ["number", "external_reference", "customer_email", "customer_name", "id"]
    list_select_related = ["shop"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, ShipmentInline]
    form = OrderAmendForm
    readonly_fields = [
        "follow",
        "status_changes",
        "metadata_pretty",
        "shipping_address_pretty",
        "id",
        "number",
        "shop",
        "status",
        "status_reason",
        "allowed_actions",
        "external_reference",
        "currency",
        "subtotal",
        "total",
        "tracking_token",
        "version",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["id", "number", "shop", "status", "status_reason", "allowed_actions"]}),
        ("Follow this order", {"fields": ["follow", "status_changes"]}),
        ("The shop's own data", {"fields": ["external_reference", "metadata_pretty"]}),
        ("Customer", {"fields": ["name", "email"]}),
        (
            "Shipping address",
            {
                "fields": ["line1", "line2", "city", "region", "postal_code", "country"],
                "description": "Can change until the order ships.",
            },
        ),
        (
            None,
            {
                "fields": [
                    "currency",
                    "subtotal",
                    "total",
                    "tracking_token",
                    "version",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    #: for a user who may only view orders: the stored values, nothing to type into
    view_only_fieldsets = [
        (None, {"fields": ["id", "number", "shop", "status", "status_reason", "allowed_actions"]}),
        ("Follow this order", {"fields": ["follow", "status_changes"]}),
        ("The shop's own data", {"fields": ["external_reference", "metadata_pretty"]}),
        ("Customer", {"fields": ["customer_name", "customer_email", "shipping_address_pretty"]}),
        fieldsets[-1],
    ]
    actions = ["cancel_orders"]

    def get_fieldsets(self, request, obj=None):
        if not self.has_change_permission(request, obj):
            return self.view_only_fieldsets
        return super().get_fieldsets(request, obj)

    def has_add_permission(self, request) -> bool:
        # orders are placed through the API or the staff page, priced from the catalog
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Its rows everywhere")
    def follow(self, order: Order):
        return format_html(
            '<ul class="follow-links">{}</ul>',
            format_html_join(
                "",
                '<li><a href="{}">{}</a></li>',
                ((url, label) for label, url in follow_links(order.pk)),
            ),
        )

    @admin.display(description="Status changes")
    def status_changes(self, order: Order):
        """Who moved the order, when and why: one query (a table, not a formset to post)."""
        rows = order.transitions.order_by("id").values_list(
            "created_at", "from_status", "to_status", "actor", "reason"
        )
        return format_html(
            '<table class="status-changes"><thead><tr><th scope="col">when</th>'
            '<th scope="col">from</th><th scope="col">to</th><th scope="col">who</th>'
            '<th scope="col">why</th></tr></thead><tbody>{}</tbody></table>',
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (f"{when:%Y-%m-%d %H:%M:%S}", old, new, actor, reason or "—")
                    for when, old, new, actor, reason in rows
                ),
            )
            or format_html('<tr><td colspan="5">{}</td></tr>', "none yet"),
        )

    @admin.display(description="Metadata")
    def metadata_pretty(self, order: Order):
        return admin_follow.pretty_json(order.metadata)

    @admin.display(description="Shipping address")
    def shipping_address_pretty(self, order: Order):
        return admin_follow.pretty_json(order.shipping_address)

    @admin.display(description="Allowed actions")
    def allowed_actions(self, order: Order) -> str:
        return ", ".join(state_machine.allowed_actions(order.status)) or "—"

    def save_model(self, request, obj, form, change) -> None:
        """Change the order through its services, never by saving the form's instance.

        The address goes first: it is the change a state can refuse, and a refused edit
        changes nothing at all. Each change publishes its event, naming the staff member.
        """
        actor = services.Actor(kind="staff", name=request.user.get_username())
        done = []
        try:
            if form.shipping_address_changed():
                services.order_change_shipping_address(
                    order_id=obj.pk,
                    shop=None,
                    actor=actor,
                    shipping_address=form.shipping_address(),
                )
                done.append("Shipping address changed.")
            if form.customer_changed():
                services.order_change_customer(
                    order_id=obj.pk, shop=None, actor=actor, **form.customer()
                )
                done.append("Customer changed.")
        except services.InvalidTransition as error:
            request.order_edit_refused = error.detail
            return
        for line in done:
            self.message_user(request, line, messages.SUCCESS)

    def log_change(self, request, obj, message):
        if getattr(request, "order_edit_refused", None):
            return None  # nothing changed, so nothing to log
        return super().log_change(request, obj, message)

    def response_change(self, request, obj):
        refused = getattr(request, "order_edit_refused", None)
        if refused:
            self.message_user(request, f"Not changed: {refused}", messages.ERROR)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    def has_cancel_permission(self, request) -> bool:
        # the staff roles' permission, as on the staff pages; refunds need one more (below)
        return request.user.has_perm(roles.CANCEL_UNPAID)

    @admin.action(description="Cancel selected orders (before shipping)", permissions=["cancel"])
    def cancel_orders(self, request, queryset):
        actor = services.Actor(kind="staff", name=request.user.get_username())
        refund_allowed = request.user.has_perm(roles.REFUND)
        cancelled, refused = 0, []
        for order in queryset:
            try:
                services.order_cancel(
                    order_id=order.pk,
                    shop=None,
                    actor=actor,
                    reason="admin",
                    refund_allowed=refund_allowed,
                )
                cancelled += 1
            except (services.InvalidTransition, RefundNotAllowed) as error:
                refused.append(f"{order.number}: {error.detail}")
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} order(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)


@admin.register(CarrierReport)
class CarrierReportAdmin(admin_follow.FollowsOrder, ReadOnlyAdmin):
    """What carriers reported on the orders' parcels, kept under the carrier's event id."""

    list_display = ["received_at", "order_link", "shop_name", "carrier", "status", "event_id"]
    list_filter = ["carrier", "status", "received_at"]
    search_fields = ["=event_id", "order__tracking_number"]
    list_select_related = ["order"]
    date_hierarchy = "received_at"
    fields = ["order_link", "shop_name", "carrier", "event_id", "status", "received_at"]
    readonly_fields = fields
    order_fields = ["order_id"]
    shop_fields = ["order__shop_id"]


@admin.register(OrderTransition)
class OrderTransitionAdmin(admin_follow.FollowsOrder, ReadOnlyAdmin):
    """Every status change of every order, naming who made it."""

    list_display = [
        "created_at",
        "order_link",
        "shop_name",
        "from_status",
        "to_status",
        "actor",
        "reason",
    ]
    list_filter = ["to_status", "created_at"]
    search_fields = ["actor", "=correlation_id"]
    list_select_related = ["order"]
    date_hierarchy = "created_at"
    fields = [
        "order_link",
        "shop_name",
        "from_status",
        "to_status",
        "actor",
        "reason",
        "correlation_id",
        "created_at",
    ]
    readonly_fields = fields
    order_fields = ["order_id"]
    shop_fields = ["order__shop_id"]


from . import admin_pricing  # noqa: E402, F401, I001  (tax rates, shipping methods, discounts)
from . import admin_returns  # noqa: E402, F401  (returns and their steps)
from . import admin_carriers  # noqa: E402, F401  (carrier accounts and their polled parcels)
