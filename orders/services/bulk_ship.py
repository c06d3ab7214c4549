"""Ship many orders at once from a CSV of order number, carrier and tracking number.

Two steps, as staff work through a day's parcels: a **preview** that checks every row
against the orders as they are now and says what is wrong with each (nothing changes), then
the **apply**, which checks again and ships each valid row through ``order_ship`` in its own
transaction — the same service, events and history as one order shipped by hand — so that a
row refused at the last moment (the order moved meanwhile, the tracking number taken) never
undoes the others. Each row's outcome is reported.
"""

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, replace
from uuid import UUID

from .. import state_machine
from ..exceptions import OrderError, OrderInputError
from ..models import Order, ShopCarrier
from .lifecycle import order_ship
from .shops import Actor

#: the most rows one file may hold (a day's parcels of a busy shop, checked in one page)
MAX_ROWS = 500
#: the most bytes one file may hold
MAX_BYTES = 256 * 1024
#: the columns, in order; a first row naming them is a header and is skipped
COLUMNS = ("order_number", "carrier", "tracking_number")
#: as the one-order ship form says (``orders.forms.TRACKING_NUMBER``)
TRACKING_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{3,63}$")


@dataclass(frozen=True)
class BulkShipRow:
    """One row of the file: what it asks, the order it names, and why it cannot be shipped."""

    line: int
    number: str
    carrier: str
    tracking_number: str
    order_id: UUID | None = None
    shop_name: str = ""
    error: str = ""
    shipped: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


def bulk_ship_preview(*, text: str) -> list[BulkShipRow]:
    """Read the file and check each row against the orders now: three queries in all.

    Raise ``OrderInputError`` for a file that cannot be read as rows at all (too big, too
    many rows, no rows, not CSV); every other problem is a row's ``error``.
    """
    rows = _read(text)
    numbers = {row.number.upper() for row in rows if row.number}
    orders: dict[str, list[tuple]] = {}
    for number, order_id, status, shop_id, shop_name in Order.objects.filter(
        number__in=numbers
    ).values_list("number", "pk", "status", "shop_id", "shop__name"):
        orders.setdefault(number, []).append((order_id, status, shop_id, shop_name))
    carriers: dict[int, dict[str, str]] = {}
    for shop_id, carrier in ShopCarrier.objects.filter(
        shop_id__in={found[2] for matches in orders.values() for found in matches}
    ).values_list("shop_id", "carrier"):
        carriers.setdefault(shop_id, {})[carrier.lower()] = carrier
    repeated_numbers = Counter(row.number.upper() for row in rows if row.number)
    repeated_parcels = Counter(
        (row.carrier.lower(), row.tracking_number) for row in rows if row.tracking_number
    )
    return [_checked(row, orders, carriers, repeated_numbers, repeated_parcels) for row in rows]


def bulk_ship_apply(*, text: str, actor: Actor) -> list[BulkShipRow]:
    """Check the file again and ship each valid row on its own; return every row's outcome."""
    outcomes = []
    for row in bulk_ship_preview(text=text):
        if not row.ok:
            outcomes.append(row)
            continue
        try:
            order_ship(
                order_id=row.order_id,
                shop=None,
                actor=actor,
                carrier=row.carrier,
                tracking_number=row.tracking_number,
            )
        except OrderError as error:  # moved meanwhile, the tracking number taken, …
            outcomes.append(replace(row, error=f"Not shipped: {error.detail}"))
        else:
            outcomes.append(replace(row, shipped=True))
    return outcomes


def bulk_ship_report(rows: list[BulkShipRow]) -> str:
    """The outcome of each row as CSV, for the records or a second try of the refused ones."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*COLUMNS, "result"])
    for row in rows:
        result = "shipped" if row.shipped else (row.error or "ready")
        writer.writerow([row.number, row.carrier, row.tracking_number, result])
    return out.getvalue()


def _read(text: str) -> list[BulkShipRow]:
    if len(text.encode()) > MAX_BYTES:
        raise OrderInputError(f"The file is too big: at most {MAX_BYTES // 1024} KB.")
    try:
        records = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as error:
        raise OrderInputError(f"The file cannot be read as CSV: {error}.") from None
    lines = [
        (n, record) for n, record in enumerate(records, start=1) if any(map(str.strip, record))
    ]
    if lines and [cell.strip().lower() for cell in lines[0][1]][:3] == list(COLUMNS):
        lines = lines[1:]
    if not lines:
        raise OrderInputError(
            "The file holds no rows: one order a line, as order_number,carrier,tracking_number."
        )
    if len(lines) > MAX_ROWS:
        raise OrderInputError(f"The file holds {len(lines)} rows: at most {MAX_ROWS} at a time.")
    rows = []
    for n, record in lines:
        cells = [cell.strip() for cell in record]
        number, carrier, tracking_number = [*cells, "", "", ""][:3]
        error = (
            f"Expected 3 columns ({', '.join(COLUMNS)}), found {len(cells)}."
            if len(cells) != len(COLUMNS)
            else ""
        )
        rows.append(BulkShipRow(n, number, carrier, tracking_number, error=error))
    return rows


def _checked(row, orders, carriers, repeated_numbers, repeated_parcels) -> BulkShipRow:
    if row.error:
        return row
    values = (row.number, row.carrier, row.tracking_number)
    missing = [name for name, value in zip(COLUMNS, values, strict=True) if not value]
    if missing:
        return replace(row, error=f"Missing {', '.join(missing)}.")
    if not TRACKING_NUMBER.match(row.tracking_number):
        return replace(row, error="Tracking number: use 4 to 64 letters, digits or dashes.")
    if repeated_numbers[row.number.upper()] > 1:
        return replace(row, error=f"Order {row.number} is on more than one row.")
    if repeated_parcels[(row.carrier.lower(), row.tracking_number)] > 1:
        return replace(row, error=f"Tracking number {row.tracking_number} is on more than one row.")
    matches = orders.get(row.number.upper(), [])
    if not matches:
        return replace(row, error=f"No order {row.number}.")
    if len(matches) > 1:
        return replace(row, error=f"{row.number} names orders of several shops; ship it by hand.")
    order_id, status, shop_id, shop_name = matches[0]
    found = replace(row, number=row.number.upper(), order_id=order_id, shop_name=shop_name)
    if "ship" not in state_machine.allowed_actions(status):
        return replace(found, error=f"The order is {status}: it cannot ship now.")
    carrier = carriers.get(shop_id, {}).get(row.carrier.lower())
    if carrier is None:
        return replace(found, error=f"{shop_name} does not ship with {row.carrier!r}.")
    return replace(found, carrier=carrier)
