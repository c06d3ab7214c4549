"""The board's orders as CSV, for a spreadsheet or another system (streamed, formulas kept
as text: ``orderflow.csv_export``)."""

from collections.abc import Iterator

from django.db.models import QuerySet

from orderflow.csv_export import CHUNK, csv_chunks

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


def board_csv(orders: QuerySet[TrackedOrder]) -> Iterator[str]:
    """Yield the header, then the orders' lines, reading ``CHUNK`` rows at a time."""
    rows = orders.values_list(*(field for field, _ in COLUMNS)).iterator(chunk_size=CHUNK)
    return csv_chunks([header for _, header in COLUMNS], rows)
