"""The payments context's per-event statements, as server-side prepared SQL.

Charging and invoicing run once per order; each statement here is planned once per
connection and sent as one round trip (``execute_prepared``: same connection and
transaction as the ORM, seen by ``connection.execute_wrapper`` counters). Each function
has an ORM twin for SQLite (the embedded mode) with the same result. All run inside the
caller's transaction.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db import connection
from django.db.models import F
from django.utils import timezone
from psycopg.types.json import Jsonb

from orderflow.events.workqueue import execute_prepared, model_from_row

from .choices import InvoiceKind, PaymentMode
from .models import Invoice, InvoiceSequence, Payment, PaymentAttempt


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _run(sql: str, params) -> list[tuple]:
    # Django's errors (IntegrityError…), as its own cursors raise them
    with connection.wrap_database_errors:
        return execute_prepared(sql, params)


# --- the payment row -------------------------------------------------------------------
#: Create the order's payment (pending) or find it, and lock it, in one statement: a
#: conflicting insert updates nothing but takes the row's lock, and returns the row.
_PAYMENT_LOCKED_SQL = """
INSERT INTO payments_payment (id, order_id, shop_id, amount, refunded_amount, currency, status,
    authorization_reference, gateway_reference, decline_code, failure_reason,
    created_at, updated_at, captured_at, mode)
VALUES (%(id)s, %(order_id)s, %(shop_id)s, %(amount)s, 0, %(currency)s, 'pending',
    '', '', '', '', %(now)s, %(now)s, NULL, %(mode)s)
ON CONFLICT (order_id) DO UPDATE SET order_id = EXCLUDED.order_id
RETURNING id, order_id, shop_id, amount, refunded_amount, currency, status,
    authorization_reference, gateway_reference, decline_code, failure_reason,
    created_at, updated_at, captured_at, mode
"""


def payment_locked(
    *, order_id: UUID, shop_id: int, amount, currency: str, mode: str = PaymentMode.CHARGE
) -> Payment:
    """Return the order's payment row, locked; create it (pending, in ``mode``) if there is
    none."""
    if not _postgres():
        Payment.objects.bulk_create(
            [
                Payment(
                    order_id=order_id, shop_id=shop_id, amount=amount, currency=currency, mode=mode
                )
            ],
            ignore_conflicts=True,
        )
        return Payment.objects.select_for_update().get(order_id=order_id)
    (row,) = _run(
        _PAYMENT_LOCKED_SQL,
        {
            "id": uuid.uuid4(),
            "order_id": order_id,
            "shop_id": shop_id,
            "amount": amount,
            "currency": currency,
            "now": timezone.now(),
            "mode": str(mode),
        },
    )
    return model_from_row(Payment, row)


@dataclass(frozen=True)
class Attempt:
    """A gateway call to record with the payment (see ``PaymentAttempt``)."""

    operation: str
    idempotency_key: str
    outcome: str
    reference: str = ""
    detail: str = ""


#: The payment's new state and the gateway calls that led to it, in one statement.
_PAYMENT_SAVE_SQL = """
WITH recorded AS (
    INSERT INTO payments_paymentattempt
        (payment_id, operation, idempotency_key, outcome, reference, detail, delivery_attempt,
         created_at)
    SELECT %(id)s, a.operation, a.idempotency_key, a.outcome, a.reference, a.detail,
        %(delivery_attempt)s, %(now)s
    FROM unnest(%(operations)b::varchar[], %(keys)b::varchar[], %(outcomes)b::varchar[],
                %(references)b::varchar[], %(details)b::varchar[])
        WITH ORDINALITY AS a(operation, idempotency_key, outcome, reference, detail, n)
    ORDER BY a.n
    RETURNING 1
)
UPDATE payments_payment
SET status = %(status)s, authorization_reference = %(authorization_reference)s,
    gateway_reference = %(gateway_reference)s, decline_code = %(decline_code)s,
    failure_reason = %(failure_reason)s, captured_at = %(captured_at)s, updated_at = %(now)s
WHERE id = %(id)s
"""


def payment_save(payment: Payment, attempts: Sequence[Attempt], *, delivery_attempt: int) -> None:
    """Write the payment's status and gateway facts, and record ``attempts`` (in order)."""
    now = timezone.now()
    payment.updated_at = now
    if not _postgres():
        PaymentAttempt.objects.bulk_create(
            PaymentAttempt(
                payment=payment,
                operation=a.operation,
                idempotency_key=a.idempotency_key,
                outcome=a.outcome,
                reference=a.reference,
                detail=a.detail,
                delivery_attempt=delivery_attempt,
            )
            for a in attempts
        )
        payment.save(
            update_fields=[
                "status",
                "authorization_reference",
                "gateway_reference",
                "decline_code",
                "failure_reason",
                "captured_at",
                "updated_at",
            ]
        )
        return
    _run(
        _PAYMENT_SAVE_SQL,
        {
            "id": payment.pk,
            "delivery_attempt": delivery_attempt,
            "now": now,
            "operations": [str(a.operation) for a in attempts],
            "keys": [a.idempotency_key for a in attempts],
            "outcomes": [str(a.outcome) for a in attempts],
            "references": [a.reference for a in attempts],
            "details": [a.detail for a in attempts],
            "status": str(payment.status),
            "authorization_reference": payment.authorization_reference,
            "gateway_reference": payment.gateway_reference,
            "decline_code": payment.decline_code,
            "failure_reason": payment.failure_reason,
            "captured_at": payment.captured_at,
        },
    )


# --- invoices --------------------------------------------------------------------------
#: every column, in the model's order (what ``_from_row`` reads)
_INVOICE_OF_ORDER_SQL = f"""
SELECT {", ".join(field.column for field in Invoice._meta.concrete_fields)}
FROM payments_invoice WHERE order_id = %s AND kind = 'invoice'
"""  # noqa: S608 (column names come from the model)


def invoice_of_order(order_id: UUID) -> Invoice | None:
    """The order's invoice (not a credit note), if it was issued."""
    if not _postgres():
        return Invoice.objects.filter(order_id=order_id, kind=InvoiceKind.INVOICE).first()
    rows = _run(_INVOICE_OF_ORDER_SQL, [order_id])
    return model_from_row(Invoice, rows[0]) if rows else None


#: The shop's year counter, created at 1 or incremented, in one statement. The row stays
#: locked until the issuing transaction ends: concurrent issues queue on it, and a
#: rolled-back issue gives its number back (no gaps).
_NEXT_NUMBER_SQL = """
INSERT INTO payments_invoicesequence (shop_id, year, last) VALUES (%s, %s, 1)
ON CONFLICT (shop_id, year) DO UPDATE SET last = payments_invoicesequence.last + 1
RETURNING last
"""


def invoice_sequence_next(shop_id: int, year: int) -> int:
    """Take the next number of the shop's year (gap-free, see ``_NEXT_NUMBER_SQL``)."""
    if not _postgres():
        InvoiceSequence.objects.bulk_create(
            [InvoiceSequence(shop_id=shop_id, year=year)], ignore_conflicts=True
        )
        InvoiceSequence.objects.filter(shop_id=shop_id, year=year).update(last=F("last") + 1)
        return InvoiceSequence.objects.get(shop_id=shop_id, year=year).last
    ((last,),) = _run(_NEXT_NUMBER_SQL, [shop_id, year])
    return last


_INVOICE_INSERT_SQL = """
INSERT INTO payments_invoice (id, shop_id, order_id, order_number, kind, number, year, sequence,
    credits_id, seller, buyer, lines, currency, subtotal, tax_rate, tax, total, issued_at, taxes,
    shipping_total, discount_total, refund_id)
VALUES (%(id)s, %(shop_id)s, %(order_id)s, %(order_number)s, %(kind)s, %(number)s, %(year)s,
    %(sequence)s, %(credits_id)s, %(seller)s, %(buyer)s, %(lines)s, %(currency)s, %(subtotal)s,
    %(tax_rate)s, %(tax)s, %(total)s, %(issued_at)s, %(taxes)s, %(shipping_total)s,
    %(discount_total)s, %(refund_id)s)
"""


def invoice_insert(invoice: Invoice) -> Invoice:
    """Insert a new (unsaved) invoice as it is; it never changes after this."""
    if not _postgres():
        invoice.save(force_insert=True)
        return invoice
    invoice.issued_at = timezone.now()
    _run(
        _INVOICE_INSERT_SQL,
        {
            "id": invoice.pk,
            "shop_id": invoice.shop_id,
            "order_id": invoice.order_id,
            "order_number": invoice.order_number,
            "kind": str(invoice.kind),
            "number": invoice.number,
            "year": invoice.year,
            "sequence": invoice.sequence,
            "credits_id": invoice.credits_id,
            "seller": Jsonb(invoice.seller),
            "buyer": Jsonb(invoice.buyer),
            "lines": Jsonb(invoice.lines),
            "currency": invoice.currency,
            "subtotal": invoice.subtotal,
            "tax_rate": invoice.tax_rate,
            "tax": invoice.tax,
            "total": invoice.total,
            "issued_at": invoice.issued_at,
            "taxes": Jsonb(invoice.taxes),
            "shipping_total": invoice.shipping_total,
            "discount_total": invoice.discount_total,
            "refund_id": invoice.refund_id,
        },
    )
    invoice._state.adding = False
    invoice._state.db = connection.alias
    return invoice
