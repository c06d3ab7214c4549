"""Staff forms: a new order on behalf of a shop, and the order actions that take input."""

import uuid
from decimal import Decimal
from typing import ClassVar

from django import forms
from django.contrib.admin.helpers import ActionForm
from django.utils.translation import gettext, gettext_lazy
from rest_framework import serializers

from .api.serializers import OrderCustomerInputSerializer, ShippingAddressSerializer
from .models import Product, Shop, ShopCarrier
from .services import bulk_ship
from .services.amendments import ADDRESS_FIELDS
from .services.dispatch import ShipmentLineInput
from .services.intake import MAX_QUANTITY

BULK_SHIP_MAX_BYTES = bulk_ship.MAX_BYTES
TRACKING_NUMBER = r"^[A-Za-z0-9][A-Za-z0-9\-]{3,63}$"
PAYMENT_TOKENS = [
    ("tok_ok", gettext_lazy("Card that pays (tok_ok)")),
    ("tok_declined", gettext_lazy("Card that is declined (tok_declined)")),
    ("tok_insufficient", gettext_lazy("Card without funds (tok_insufficient)")),
    ("tok_flaky", gettext_lazy("Card whose gateway fails twice, then pays (tok_flaky)")),
]


class ApiCheckedForm:
    """Check a form's values with the API's own serializers: one set of rules for every way in.

    ``api_rules`` maps a form field to (serializer, its field). The form's fields only say
    what must be filled in; lengths, formats and codes are the serializers' alone, so a
    staff page can never accept what the API refuses, nor the other way round.
    """

    api_rules: ClassVar[dict[str, tuple[type[serializers.Serializer], str]]] = {}

    def clean(self) -> dict:
        cleaned = super().clean()
        self.api_validated: dict[type[serializers.Serializer], dict] = {}
        for checker in dict.fromkeys(checker for checker, _ in self.api_rules.values()):
            fields = {
                name: field for name, (owner, field) in self.api_rules.items() if owner is checker
            }
            if not self.api_checks(fields):
                continue
            serializer = checker(
                data={field: cleaned.get(name, "") for name, field in fields.items()}
            )
            if serializer.is_valid():
                self.api_validated[checker] = dict(serializer.validated_data)
                continue
            for name, field in fields.items():
                if field in serializer.errors and name not in self.errors:
                    self.add_error(name, [str(error) for error in serializer.errors[field]])
        return cleaned

    def api_checks(self, fields: dict[str, str]) -> bool:
        """Say whether these fields (one serializer's) are checked; a new form checks all."""
        return True


#: a customer and a shipping address, as the staff forms name their fields
CONTACT_RULES = {
    "customer_name": (OrderCustomerInputSerializer, "name"),
    "customer_email": (OrderCustomerInputSerializer, "email"),
    **{name: (ShippingAddressSerializer, name) for name in ADDRESS_FIELDS},
}


class OrderCreateForm(ApiCheckedForm, forms.Form):
    api_rules = CONTACT_RULES

    #: generated when the form is rendered and sent back with it: the order's
    #: Idempotency-Key, so that submitting the same form twice places one order
    form_key = forms.UUIDField(
        widget=forms.HiddenInput,
        initial=uuid.uuid4,
        error_messages={
            "required": gettext_lazy(
                "This form lost its key. It has a new one now: check on the board "
                "that the order was not placed already, then submit again."
            ),
            "invalid": gettext_lazy(
                "This form's key is damaged. It has a new one now: check on the board "
                "that the order was not placed already, then submit again."
            ),
        },
    )
    shop = forms.ModelChoiceField(
        label=gettext_lazy("Shop"), queryset=Shop.objects.order_by("name"), empty_label=None
    )
    # the customer's and the address's rules are the API's (CONTACT_RULES)
    customer_name = forms.CharField(label=gettext_lazy("Customer name"))
    customer_email = forms.CharField(label=gettext_lazy("Customer e-mail"), widget=forms.EmailInput)
    line1 = forms.CharField(label=gettext_lazy("Address"))
    line2 = forms.CharField(label=gettext_lazy("Address, second line"), required=False)
    postal_code = forms.CharField(label=gettext_lazy("Postal code"))
    city = forms.CharField(label=gettext_lazy("City"))
    region = forms.CharField(label=gettext_lazy("Region"), required=False)
    country = forms.CharField(
        label=gettext_lazy("Country"),
        help_text=gettext_lazy("Two capital letters (ISO 3166), e.g. BR or PT."),
    )
    payment_token = forms.ChoiceField(label=gettext_lazy("Payment"), choices=PAYMENT_TOKENS)
    shipping_method = forms.CharField(
        label=gettext_lazy("Shipping method"),
        max_length=40,
        required=False,
        help_text=gettext_lazy(
            "The code of one of the shop's shipping methods (required when it has any)."
        ),
    )
    discount_code = forms.CharField(
        label=gettext_lazy("Discount code"), max_length=40, required=False
    )

    def renew_key(self) -> None:
        """Give the re-rendered form a new key, so its next submit is a new order."""
        self.data = self.data.copy()
        self.data[self.add_prefix("form_key")] = str(uuid.uuid4())

    def shipping_address(self) -> dict:
        data = self.cleaned_data
        address = {key: data[key] for key in ("line1", "city", "postal_code", "country")}
        address.update({key: data[key] for key in ("line2", "region") if data[key]})
        return address


class OrderLineForm(forms.Form):
    sku = forms.CharField(
        label=gettext_lazy("SKU"), max_length=64, widget=forms.TextInput(attrs={"list": "skus"})
    )
    quantity = forms.IntegerField(
        label=gettext_lazy("Quantity"), min_value=1, max_value=MAX_QUANTITY, initial=1
    )


OrderLineFormSet = forms.formset_factory(
    OrderLineForm, extra=3, min_num=1, validate_min=True, max_num=100, validate_max=True
)


def product_skus() -> list[tuple[str, str]]:
    return list(Product.objects.order_by("sku").values_list("sku", "name").distinct()[:500])


class ShipForm(forms.Form):
    carrier = forms.CharField(
        label=gettext_lazy("Carrier"),
        max_length=50,
        help_text=gettext_lazy("The carrier's name, e.g. demo-post."),
        widget=forms.TextInput(attrs={"list": "carriers"}),
    )
    tracking_number = forms.RegexField(
        regex=TRACKING_NUMBER,
        label=gettext_lazy("Tracking number"),
        error_messages={"invalid": gettext_lazy("Use 4 to 64 letters, digits or dashes.")},
    )

    def __init__(self, *args, lines: list[tuple[str, str, int]] = (), **kwargs):
        """``lines``: (SKU, name, units still to ship) of each line: a field each, set to all
        of its units, so that leaving them ships everything that remains in one parcel."""
        super().__init__(*args, **kwargs)
        self.lines = list(lines)
        for index, (sku, name, units) in enumerate(self.lines):
            self.fields[f"line_{index}"] = forms.IntegerField(
                label=f"{name} ({sku})",
                min_value=0,
                max_value=units,
                initial=units,
                required=False,
                help_text=gettext("Units in this parcel: 0 to %(units)s (empty: all that remain).")
                % {"units": units},
            )

    def clean(self):
        """``lines``: None to ship all that remains, else the units chosen for this parcel."""
        cleaned = super().clean()
        if self.errors:
            return cleaned
        asked = [cleaned.get(f"line_{index}") for index in range(len(self.lines))]
        chosen = [
            (sku, units if count is None else count, units)
            for (sku, _, units), count in zip(self.lines, asked, strict=True)
        ]
        if not any(count for _, count, _ in chosen):
            raise forms.ValidationError(gettext("Put at least one unit in the parcel."))
        everything = all(count == units for _, count, units in chosen)
        cleaned["lines"] = (
            None
            if everything
            else [ShipmentLineInput(sku=sku, quantity=count) for sku, count, _ in chosen if count]
        )
        return cleaned

    @staticmethod
    def known_carriers(shop_id: int) -> list[str]:
        """Offer the carriers the order's shop ships with: any other is refused."""
        return list(
            ShopCarrier.objects.filter(shop_id=shop_id)
            .order_by("carrier")
            .values_list("carrier", flat=True)
        )


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=500, required=False, widget=forms.TextInput
    )


class AddressForm(ApiCheckedForm, forms.Form):
    """A new shipping address for an order, checked by the API's own serializer."""

    api_rules = {name: (ShippingAddressSerializer, name) for name in ADDRESS_FIELDS}

    line1 = forms.CharField(label=gettext_lazy("Address"))
    line2 = forms.CharField(label=gettext_lazy("Address, second line"), required=False)
    postal_code = forms.CharField(label=gettext_lazy("Postal code"))
    city = forms.CharField(label=gettext_lazy("City"))
    region = forms.CharField(label=gettext_lazy("Region"), required=False)
    country = forms.CharField(
        label=gettext_lazy("Country"),
        help_text=gettext_lazy("Two capital letters (ISO 3166), e.g. BR or PT."),
    )


class BulkShipForm(forms.Form):
    """A CSV of order_number,carrier,tracking_number: uploaded as a file or pasted."""

    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        required=False,
        help_text=gettext_lazy(
            "One order a line: order_number,carrier,tracking_number (a header is fine)."
        ),
    )
    text = forms.CharField(
        label=gettext_lazy("Or paste the rows"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
    )
    step = forms.ChoiceField(
        choices=[("preview", gettext_lazy("Preview")), ("apply", gettext_lazy("Ship"))],
        initial="preview",
    )

    def clean(self) -> dict:
        data = super().clean()
        upload = data.get("file")
        if upload:
            try:
                data["text"] = upload.read(BULK_SHIP_MAX_BYTES + 1).decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError(
                    gettext("The file is not UTF-8 text: save it as CSV (UTF-8)."), code="encoding"
                ) from None
        if not (data.get("text") or "").strip():
            raise forms.ValidationError(
                gettext("Choose a CSV file or paste its rows."), code="required"
            )
        return data


class ReturnStepForm(forms.Form):
    """A step of a return on the staff order page; each step reads the fields it needs."""

    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=500, required=False, widget=forms.TextInput
    )
    restock = forms.BooleanField(label=gettext_lazy("Put the units back on hand"), required=False)
    amount = forms.DecimalField(
        label=gettext_lazy("Amount"),
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
    )

    def problems(self) -> str:
        """The form's errors in one line, each after its field's label (the reader's words)."""
        return "; ".join(
            f"{self.fields[name].label if name in self.fields else name}: {' '.join(errors)}"
            for name, errors in self.errors.items()
        )


class ReturnActionForm(ActionForm):
    """The returns admin's action bar with a reason box: a rejection needs what support types.

    No ``max_length`` here: an invalid action form reads as "No action selected", so the
    reject action checks the length itself and says so (``REASON_MAX_LENGTH``).
    """

    reason = forms.CharField(
        label="Reason (the customer reads it)",
        required=False,
        widget=forms.TextInput(attrs={"size": 60}),
    )


class ReturnRequestForm(forms.Form):
    """Units of the order's lines coming back, asked for by staff for the customer."""

    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        widget=forms.TextInput,
        help_text=gettext_lazy("The customer reads it."),
    )

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        for line in lines:
            self.fields[f"units_{line.sku}"] = forms.IntegerField(
                label=gettext("%(name)s (%(sku)s): units coming back")
                % {"name": line.name, "sku": line.sku},
                min_value=0,
                max_value=line.quantity,
                initial=0,
                required=False,
            )
        self.skus = [line.sku for line in lines]
        self.fields["reason"] = self.fields.pop("reason")  # after the lines

    def lines(self) -> list[tuple[str, int]]:
        """(sku, units) of each line with units to return."""
        return [
            (sku, units)
            for sku in self.skus
            if (units := self.cleaned_data.get(f"units_{sku}") or 0) > 0
        ]
