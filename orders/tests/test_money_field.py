"""Order amounts read back and render whatever their size (embedded mode's SQLite keeps any)."""

from decimal import Decimal

import pytest
from django.db.backends.sqlite3.base import DatabaseOperations
from django.db.models.expressions import Col

from orders.api.serializers import OrderOutputSerializer
from orders.models import Order, OrderLine
from testkit.factories import ProductFactory, ShopFactory, order_for

HUGE = Decimal("100000000000000000.00")  # 18 digits: past numeric(14,2)


@pytest.mark.parametrize(
    ("model", "field"),
    [(Order, "subtotal"), (Order, "total"), (OrderLine, "unit_price"), (OrderLine, "line_total")],
)
def test_sqlite_reads_back_an_amount_over_the_column(model, field):
    """SQLite stored such an amount; Django's converter then raised on every read of it."""
    column = Col(model._meta.db_table, model._meta.get_field(field))
    convert = DatabaseOperations(connection=None).get_decimalfield_converter(column)

    assert convert(1e17, column, None) == HUGE


@pytest.mark.django_db
def test_an_order_with_amounts_over_the_column_still_renders():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="MUG", price="9.90")
    order = Order.objects.prefetch_related("lines").get(pk=order_for(shop, lines={"MUG": 1}).pk)
    order.subtotal = order.total = HUGE
    line = order.lines.all()[0]
    line.unit_price = line.line_total = HUGE

    data = OrderOutputSerializer(order).data

    assert (data["subtotal"], data["total"]) == ("100000000000000000.00",) * 2
    assert (data["lines"][0]["unit_price"], data["lines"][0]["line_total"]) == (
        "100000000000000000.00",
    ) * 2
