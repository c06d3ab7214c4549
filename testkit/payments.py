"""Orders in the states the payments context meets them, reached through the real services."""

from orders import services as order_services
from orders.models import Order, Shop
from payments.models import Invoice, Payment
from payments.services import payment_charge, payment_refund_for_cancelled_order
from testkit.factories import STAFF, order_in

LINES = {"COFFEE-1KG": 2, "MUG": 1}  # 59.70 EUR


def reserved_order(shop: Shop, *, payment_token: str = "tok_ok") -> Order:  # noqa: S107
    """An order whose stock is held: ``stock.reserved`` was published, the charge is next."""
    return order_in(shop, "reserved", lines=LINES, payment_token=payment_token)


def captured_order(shop: Shop) -> tuple[Order, Payment]:
    """A reserved order whose payment is captured (``order.paid`` not yet handled)."""
    order = reserved_order(shop)
    return order, payment_charge(order_id=order.pk, attempt=1)


def confirmed_order(shop: Shop) -> tuple[Order, Payment]:
    """An order captured and confirmed, as the saga leaves it before invoicing."""
    order, payment = captured_order(shop)
    order = order_services.order_confirm_payment(
        order_id=order.pk, payment_id=payment.pk, amount=payment.amount, currency=payment.currency
    )
    return order, payment


def cancel(order: Order) -> Order:
    return order_services.order_cancel(order_id=order.pk, shop=None, actor=STAFF, reason="late")


def settle_cancellation(order: Order) -> Invoice | None:
    """Run a cancelled (once confirmed) order's refund step, as ``order.cancelled`` does.

    It gives back what is left of the capture and issues the invoice's cancellation
    credit note, returned (None when the refunds had credited all of it).
    """
    payment_refund_for_cancelled_order(
        order_id=order.pk, reason="late", attempt=1, previous_status="confirmed"
    )
    return Invoice.objects.filter(
        order_id=order.pk, kind="credit_note", refund__isnull=True
    ).first()
