"""What each refund gives back of each part of an order: its lines and its shipping.

An order's money sits in parts, each at one tax rate: a line (its total after discount,
with its tax) and the shipping. A refund of an amount takes from every part in proportion
to what is left of it; a refund of lines takes those units' share of what is left of
their line. Replaying an order's earlier refunds in order (:meth:`Shares.replay`) tells
what is left of every part, so:

- a refund by lines never gives back again what a refund of an amount already took of its
  line: the mug refunded after 10.00 came back of the whole order gives back the mug less
  its part of the 10.00;
- every credit note's tax per rate is the tax of the parts it took from, so no rate is
  credited past what the invoice charged, and nothing moves from one rate to another.

Rounding, to the cent:

- a refund of lines whose line no refund of an amount touched keeps the unit rule: the
  share of all the units refunded so far, rounded half up, less what earlier refunds of
  the line gave back (so a line refunded unit by unit adds up to its total and tax);
- once a refund of an amount took part of a line, the units' share is of what is left of
  it (``left * units / units left``, half up); the line's last units take all that is left;
- a refund of an amount is split in proportion to what is left of each part, each share
  rounded down and the cents left over going one each to the largest remainders (the
  earlier part on a tie: lines in order, then shipping); a share's tax is the part's
  remaining tax in the same proportion, half up, within what is left of the part's tax
  and net; a share that empties its part takes all its tax.

Pure functions of the order's values and the refunds: no query.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
SHIPPING = ""  # the shipping's part key (a line's is its sku)


@dataclass(frozen=True)
class Part:
    """A line of the order, or its shipping: what was paid for it, tax included."""

    key: str
    rate: Decimal
    quantity: int
    gross: Decimal
    tax: Decimal
    #: in the order's price basis (with tax when prices include it), after discount
    line_total: Decimal
    discount: Decimal


@dataclass(frozen=True)
class Share:
    """What one refund gives back of one part."""

    key: str
    rate: Decimal
    units: int
    gross: Decimal
    tax: Decimal
    line_total: Decimal
    discount: Decimal


@dataclass
class _Taken:
    units: int = 0
    gross: Decimal = ZERO
    tax: Decimal = ZERO
    line_total: Decimal = ZERO
    discount: Decimal = ZERO
    by_amount: bool = False


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


def _within(tax: Decimal, gross: Decimal, left_gross: Decimal, left_tax: Decimal) -> Decimal:
    """Keep a share's tax within the part's tax and net left (and the share itself)."""
    return max(min(tax, left_tax, gross), gross - (left_gross - left_tax), ZERO)


class Shares:
    """What is left of an order's parts, refund after refund."""

    def __init__(self, parts: Iterable[Part], *, prices_include_tax: bool):
        self.parts = list(parts)
        self.prices_include_tax = prices_include_tax
        self.taken = {part.key: _Taken() for part in self.parts}

    @classmethod
    def replay(
        cls,
        parts: Iterable[Part],
        *,
        prices_include_tax: bool,
        refunds: Iterable[tuple[Decimal, list[Mapping]]],
    ) -> "Shares":
        """The parts after ``refunds`` (amount, lines as stored), oldest first."""
        shares = cls(parts, prices_include_tax=prices_include_tax)
        for amount, lines in refunds:
            if lines:
                shares.take_lines({line["sku"]: line["quantity"] for line in lines})
            else:
                shares.take_amount(amount)
        return shares

    def units_left(self, key: str) -> int:
        part = self._part(key)
        return part.quantity - self.taken[key].units

    def gross_left(self) -> Decimal:
        return sum((part.gross - self.taken[part.key].gross for part in self.parts), ZERO)

    def take_lines(self, units: Mapping[str, int]) -> list[Share]:
        """Give back ``units`` of lines (sku -> units, each at most its units left)."""
        return [self._take_units(self._part(key), wanted) for key, wanted in units.items()]

    def take_amount(self, amount: Decimal) -> list[Share]:
        """Give back ``amount`` from every part in proportion to what is left of each.

        ``amount`` at most :meth:`gross_left`: beyond it, only what is left is shared.
        """
        left = {
            part.key: part.gross - self.taken[part.key].gross
            for part in self.parts
            if part.gross - self.taken[part.key].gross > 0
        }
        total = sum(left.values(), ZERO)
        amount = min(amount, total)
        if amount <= 0:
            return []
        exact = {key: amount * value / total for key, value in left.items()}
        gross = {key: value.quantize(CENT, ROUND_DOWN) for key, value in exact.items()}
        cents = int((amount - sum(gross.values(), ZERO)) / CENT)
        order = list(left)
        for key in sorted(order, key=lambda k: (-(exact[k] - gross[k]), order.index(k)))[:cents]:
            gross[key] += CENT
        shares = []
        for key in order:
            if not gross[key]:
                continue
            part, taken = self._part(key), self.taken[key]
            left_tax = part.tax - taken.tax
            if gross[key] == left[key]:
                tax = left_tax
            else:
                tax = _within(
                    _half_up(gross[key] * left_tax / left[key]), gross[key], left[key], left_tax
                )
            shares.append(self._record(part, units=0, gross=gross[key], tax=tax, discount=ZERO))
            taken.by_amount = True
        return shares

    def _take_units(self, part: Part, wanted: int) -> Share:
        taken = self.taken[part.key]
        before, units_left = taken.units, part.quantity - taken.units
        if not taken.by_amount:

            def share(value: Decimal) -> Decimal:
                def upto(units: int) -> Decimal:
                    return _half_up(value * units / part.quantity)

                return upto(before + wanted) - upto(before)

            line_total, tax = share(part.line_total), share(part.tax)
            gross = line_total if self.prices_include_tax else line_total + tax
            return self._record(
                part, units=wanted, gross=gross, tax=tax, discount=share(part.discount)
            )
        left_gross, left_tax = part.gross - taken.gross, part.tax - taken.tax
        if wanted == units_left:
            gross, tax = left_gross, left_tax
        else:
            gross = _half_up(left_gross * wanted / units_left)
            tax = _within(_half_up(left_tax * wanted / units_left), gross, left_gross, left_tax)
        discount = _half_up(part.discount * (before + wanted) / part.quantity) - _half_up(
            part.discount * before / part.quantity
        )
        return self._record(part, units=wanted, gross=gross, tax=tax, discount=discount)

    def _record(
        self, part: Part, *, units: int, gross: Decimal, tax: Decimal, discount: Decimal
    ) -> Share:
        taken = self.taken[part.key]
        line_total = gross if self.prices_include_tax else gross - tax
        taken.units += units
        taken.gross += gross
        taken.tax += tax
        taken.line_total += line_total
        taken.discount += discount
        return Share(
            key=part.key,
            rate=part.rate,
            units=units,
            gross=gross,
            tax=tax,
            line_total=line_total,
            discount=discount,
        )

    def _part(self, key: str) -> Part:
        return next(part for part in self.parts if part.key == key)


def bands_of(shares: Iterable[Share]) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """(gross, tax) per rate of a refund's shares."""
    bands: dict[Decimal, tuple[Decimal, Decimal]] = {}
    for share in shares:
        gross, tax = bands.get(share.rate, (ZERO, ZERO))
        bands[share.rate] = (gross + share.gross, tax + share.tax)
    return bands
