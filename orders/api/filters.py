import django_filters

from ..choices import OrderStatus
from ..models import Order


class OrderFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=OrderStatus.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    email = django_filters.CharFilter(field_name="customer_email", lookup_expr="iexact")

    class Meta:
        model = Order
        fields = ["status", "created_after", "created_before", "email"]
