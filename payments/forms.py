"""Staff forms of the payments context."""

from collections.abc import Sequence
from decimal import Decimal

from django import forms
from django.contrib.admin.helpers import ActionForm
from django.utils.translation import gettext, gettext_lazy


class RefundForm(forms.Form):
    """Part (or the rest) of an order's captured payment, back to the customer: an amount,
    or units of the order's lines (their share, tax and discount included), restocked or
    not."""

    amount = forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        label=gettext_lazy("Amount"),
        help_text=gettext_lazy(
            "At most what is left of the captured payment; or leave it empty and "
            "choose units below."
        ),
    )
    reason = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.TextInput,
        label=gettext_lazy("Reason"),
        help_text=gettext_lazy("The customer reads it in the refund's e-mail."),
    )
    restock = forms.BooleanField(
        required=False,
        label=gettext_lazy("Put the refunded units back on hand"),
        help_text=gettext_lazy("Only for units of an order that has shipped (they came back)."),
    )

    def __init__(self, *args, lines: Sequence = (), **kwargs):
        """``lines``: the order's lines (``sku``, ``name``, ``quantity``), a field each."""
        super().__init__(*args, **kwargs)
        self.lines = tuple(lines)
        for index, line in enumerate(self.lines):
            self.fields[f"line_{index}"] = forms.IntegerField(
                min_value=0,
                max_value=line.quantity,
                required=False,
                label=gettext("Units of %(name)s (%(sku)s)")
                % {"name": line.name or line.sku, "sku": line.sku},
                help_text=gettext("%(quantity)s ordered.") % {"quantity": line.quantity},
            )
        # the checkbox after the units it applies to
        self.order_fields(["amount", *(f"line_{i}" for i in range(len(self.lines))), "restock"])

    def clean(self):
        cleaned = super().clean()
        units = {
            line.sku: cleaned.get(f"line_{index}")
            for index, line in enumerate(self.lines)
            if cleaned.get(f"line_{index}")
        }
        cleaned["lines"] = units
        if cleaned.get("amount") and units:
            self.add_error("amount", gettext("Refund an amount or units of lines, not both."))
        elif not cleaned.get("amount") and not units and "amount" not in self.errors:
            self.add_error("amount", forms.Field.default_error_messages["required"])
        if cleaned.get("restock") and not units:
            self.add_error(
                "restock",
                gettext("Only a refund of units puts them back on hand: choose the units."),
            )
        return cleaned

    def field_for(self, attr: str) -> str | None:
        """The form's field for an error's ``attr`` from the refund service (None: the form)."""
        if attr in ("amount", "restock"):
            return attr
        if attr.startswith("lines."):
            chosen = list(self.cleaned_data.get("lines", {}))
            index = int(attr.split(".")[1])
            if index < len(chosen):
                sku = chosen[index]
                return next(f"line_{i}" for i, line in enumerate(self.lines) if line.sku == sku)
        return None


class RefundActionForm(ActionForm):
    """The admin's action bar, with the refund's restock checkbox."""

    restock = forms.BooleanField(
        required=False,
        label="Put the units back on hand",
        help_text="Refund what is left as the units not refunded yet, and restock them "
        "(shipped orders).",
    )
