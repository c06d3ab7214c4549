from datetime import UTC

import django_filters
import django_filters.constants
from django import forms
from django_filters.fields import IsoDateTimeField

from ..choices import OrderStatus
from ..models import Order


class EmailFilter(django_filters.CharFilter):
    """A customer e-mail: ``?email=ana`` is a 400 naming the parameter, not an empty page."""

    field_class = forms.EmailField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, sent to PostgreSQL in UTC.

    ISO 8601 allows offsets up to ±23:59 but PostgreSQL only ±15:59, and a year-9999
    bound can leave the calendar once moved to UTC: both are a 400 here, not a 500.
    """

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Enter a date-time within years 1 to 9999.") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class ExternalReferenceFilter(django_filters.CharFilter):
    """The shop's reference, exactly; blank references are never matched (no order has one).

    Saying so in the query lets PostgreSQL use the partial unique index on (shop,
    reference), whose condition is that very ``<> ''``, whatever the plan's parameters.
    """

    def filter(self, qs, value):
        if value in django_filters.constants.EMPTY_VALUES:
            return qs
        return qs.filter(external_reference=value).exclude(external_reference="")


class OrderFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=OrderStatus.choices)
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    email = EmailFilter(field_name="customer_email", lookup_expr="iexact")
    # form CharFields: a NUL (a database error) or a value longer than the column is a 400
    number = django_filters.CharFilter(
        field_name="number", max_length=Order._meta.get_field("number").max_length, strip=False
    )
    external_reference = ExternalReferenceFilter(
        max_length=Order._meta.get_field("external_reference").max_length, strip=False
    )

    class Meta:
        model = Order
        fields = [
            "status",
            "created_after",
            "created_before",
            "updated_after",
            "email",
            "number",
            "external_reference",
        ]
