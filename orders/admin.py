"""Support's view of shops, keys, catalog and orders. Status is never edited by hand here."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils.html import format_html

from orderflow import roles

from . import services, state_machine
from .api.serializers import OrderCustomerInputSerializer, ShippingAddressSerializer
from .exceptions import RefundNotAllowed
from .forms import CONTACT_RULES, ApiCheckedForm
from .models import Order, OrderLine, Product, Shop, ShopAPIKey, ShopCarrier


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
    list_display = ["name", "shop", "prefix", "created", "last_used_at", "revoked"]
    list_filter = ["revoked", "shop"]
    search_fields = ["name", "prefix", "shop__name"]
    readonly_fields = ["prefix", "created", "last_used_at"]
    actions = ["revoke_keys"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["shop", "name", "expiry_date"]
        return ["shop", "name", "prefix", "created", "last_used_at", "expiry_date", "revoked"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["shop", "prefix", "created", "last_used_at", "revoked"]

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

    @admin.action(description="Revoke selected keys (cannot be undone)")
    def revoke_keys(self, request, queryset):
        for api_key in queryset.filter(revoked=False):
            services.api_key_revoke(api_key=api_key)
        self.message_user(request, "Revoked.", messages.SUCCESS)


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


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "shop", "status", "customer_email", "total", "currency", "created_at"]
    list_filter = ["status", "shop", "created_at"]
    search_fields = ["number", "external_reference", "customer_email", "customer_name", "id"]
    list_select_related = ["shop"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline]
    form = OrderAmendForm
    readonly_fields = [
        "id",
        "number",
        "shop",
        "status",
        "status_reason",
        "allowed_actions",
        "external_reference",
        "metadata",
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
        ("The shop's own data", {"fields": ["external_reference", "metadata"]}),
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
        ("The shop's own data", {"fields": ["external_reference", "metadata"]}),
        ("Customer", {"fields": ["customer_name", "customer_email", "shipping_address"]}),
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
