"""Staff forms of the payments context."""

from decimal import Decimal

from django import forms


class RefundForm(forms.Form):
    """Part (or the rest) of an order's captured payment, back to the customer."""

    amount = forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text="At most what is left of the captured payment.",
    )
    reason = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.TextInput,
        help_text="The customer reads it in the refund's e-mail.",
    )
