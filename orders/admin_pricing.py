"""Support's pages for a shop's pricing settings: tax rates, shipping methods, discount codes.

Imported at the end of ``orders/admin.py``. The forms check what the API checks, with the
API's own serializers and the service's rules (``orders.services.price_settings``), so a
setting made here is one the API would have accepted. A code's uses and its redemptions
are the orders' record: read-only here.
"""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .admin import ShopAdmin
from .api.pricing_serializers import ShippingMethodUpdateInputSerializer
from .exceptions import PriceSettingInputError
from .models import Discount, DiscountRedemption, ShippingMethod, TaxRate
from .services.price_settings import discount_check, shipping_method_check, shipping_method_save


def _add_setting_errors(form: forms.ModelForm, error: PriceSettingInputError) -> None:
    for field_error in error.errors:
        name = field_error.attr.split(".")[0]
        form.add_error(name if name in form.fields else None, field_error.detail)


class TaxRateInline(admin.TabularInline):
    model = TaxRate
    extra = 0
    fields = ["tax_class", "country", "rate"]


ShopAdmin.inlines = [*ShopAdmin.inlines, TaxRateInline]


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ["shop", "tax_class", "country", "rate"]
    list_filter = ["tax_class", "shop"]
    list_select_related = ["shop"]
    search_fields = ["shop__name", "shop__slug", "tax_class", "=country"]
    autocomplete_fields = ["shop"]


class ShippingMethodAdminForm(forms.ModelForm):
    class Meta:
        model = ShippingMethod
        fields = "__all__"  # noqa: DJ007  (the admin's fieldsets choose)

    def clean(self):
        cleaned = super().clean()
        for name in ("weight_bands", "countries"):
            if name in cleaned and cleaned[name] is None:  # left empty: none
                cleaned[name] = []
        checked = {
            name: cleaned[name]
            for name in ("weight_bands", "countries")
            if cleaned.get(name) is not None
        }
        serializer = ShippingMethodUpdateInputSerializer(data=checked)
        if not serializer.is_valid():
            for name, errors in serializer.errors.items():
                self.add_error(name, _flatten(errors))
            return cleaned
        cleaned.update(serializer.validated_data)
        method = self.instance
        method.kind = cleaned.get("kind", method.kind)
        method.weight_bands = cleaned.get("weight_bands", [])
        try:
            shipping_method_check(method)
        except PriceSettingInputError as error:
            _add_setting_errors(self, error)
        return cleaned


def _flatten(errors) -> list[str]:
    """A serializer's errors, nested by band or by item, as plain messages."""
    if isinstance(errors, dict):
        return [f"{key}: {message}" for key, value in errors.items() for message in _flatten(value)]
    if isinstance(errors, list):
        return [message for item in errors for message in _flatten(item)]
    return [str(errors)]


@admin.register(ShippingMethod)
class ShippingMethodAdmin(admin.ModelAdmin):
    form = ShippingMethodAdminForm
    list_display = ["code", "name", "shop", "kind", "price", "free_above", "active", "is_default"]
    list_filter = ["active", "kind", "shop"]
    list_select_related = ["shop"]
    search_fields = ["code", "name", "shop__name", "shop__slug"]
    readonly_fields = ["created_at", "updated_at"]
    autocomplete_fields = ["shop"]

    def save_model(self, request, obj, form, change):
        # through the service: a new default takes over from the shop's previous one
        shipping_method_save(obj)


class DiscountAdminForm(forms.ModelForm):
    class Meta:
        model = Discount
        fields = "__all__"  # noqa: DJ007  (the admin's fieldsets choose)

    def clean(self):
        cleaned = super().clean()
        if "skus" in cleaned and cleaned["skus"] is None:  # left empty: the whole order
            cleaned["skus"] = []
        skus = cleaned.get("skus")
        if skus is not None and not (
            isinstance(skus, list) and all(isinstance(sku, str) for sku in skus)
        ):
            self.add_error("skus", 'A list of SKUs, e.g. ["COFFEE-1KG"].')
            return cleaned
        if self.errors or cleaned.get("shop") is None:
            return cleaned
        discount = Discount(
            pk=self.instance.pk,
            uses=self.instance.uses,
            **{
                name: cleaned.get(name)
                for name in ("shop", "kind", "value", "skus", "starts_at", "ends_at", "max_uses")
            },
        )
        try:
            discount_check(discount)
        except PriceSettingInputError as error:
            _add_setting_errors(self, error)
        return cleaned


class DiscountRedemptionInline(admin.TabularInline):
    """The orders that carry the code: their record, never edited here."""

    model = DiscountRedemption
    extra = 0
    fields = ["order_link", "customer_email", "amount", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order")

    @admin.display(description="Order")
    def order_link(self, redemption: DiscountRedemption):
        order = redemption.order
        url = reverse("admin:orders_order_change", args=[order.pk])
        return format_html('<a href="{}">{}</a>', url, order.number)


@admin.register(Discount)
class DiscountAdmin(admin.ModelAdmin):
    form = DiscountAdminForm
    list_display = ["code", "shop", "kind", "value", "uses", "max_uses", "ends_at", "active"]
    list_filter = ["active", "kind", "shop"]
    list_select_related = ["shop"]
    search_fields = ["code", "shop__name", "shop__slug"]
    readonly_fields = ["uses", "created_at", "updated_at"]
    autocomplete_fields = ["shop"]
    inlines = [DiscountRedemptionInline]
