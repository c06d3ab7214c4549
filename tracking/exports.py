"""The board's orders as CSV, for a spreadsheet or another system."""

import csv
from collections.abc import Iterator

from django.db.models import QuerySet

from .models import TrackedOrder

COLUMNS = [
    ("number", "order_number"),
    ("shop_name", "shop"),
    ("status", "status"),
    ("customer_name", "customer_name"),
    ("customer_email", "customer_email"),
    ("total", "total"),
    ("currency", "currency"),
    ("carrier", "carrier"),
    ("tracking_number", "tracking_number"),
    ("placed_at", "placed_at"),
    ("updated_at", "updated_at"),
]
#: rows read from the database at a time
CHUNK = 1000
#: a cell a spreadsheet would run as a formula (a customer's name is anyone's input)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def board_csv(orders: QuerySet[TrackedOrder]) -> Iterator[str]:
    """Yield the header, then one line per order, reading ``CHUNK`` rows at a time."""
    writer = csv.writer(_Echo())
    yield writer.writerow([header for _, header in COLUMNS])
    fields = [field for field, _ in COLUMNS]
    for values in orders.values_list(*fields).iterator(chunk_size=CHUNK):
        yield writer.writerow([_cell(value) for value in values])


def _cell(value) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text
