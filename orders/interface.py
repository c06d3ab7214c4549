"""A small read surface of the orders context for the others: plain frozen values only."""

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from .models import Order, Shop


@dataclass(frozen=True)
class PaymentRequest:
    order_id: UUID
    shop_id: int
    number: str
    status: str
    amount: Decimal
    currency: str
    token: str


@dataclass(frozen=True)
class Party:
    name: str
    email: str
    address: str
    legal_name: str = ""
    tax_id: str = ""


@dataclass(frozen=True)
class InvoiceLine:
    sku: str
    name: str
    unit_price: Decimal
    quantity: int
    line_total: Decimal


@dataclass(frozen=True)
class InvoiceDetails:
    order_id: UUID
    order_number: str
    shop_id: int
    currency: str
    subtotal: Decimal
    tax_rate: Decimal
    seller: Party
    buyer: Party
    lines: tuple[InvoiceLine, ...]


def order_payment_request(*, order_id: UUID) -> PaymentRequest:
    """What the payments context needs to charge an order (raises Order.DoesNotExist)."""
    order = Order.objects.only(
        "id", "shop_id", "number", "status", "total", "currency", "payment_token"
    ).get(pk=order_id)
    return PaymentRequest(
        order_id=order.id,
        shop_id=order.shop_id,
        number=order.number,
        status=order.status,
        amount=order.total,
        currency=order.currency,
        token=order.payment_token,
    )


def order_invoice_details(*, order_id: UUID) -> InvoiceDetails:
    order = Order.objects.select_related("shop").prefetch_related("lines").get(pk=order_id)
    shop: Shop = order.shop
    address = order.shipping_address or {}
    return InvoiceDetails(
        order_id=order.id,
        order_number=order.number,
        shop_id=shop.pk,
        currency=order.currency,
        subtotal=order.subtotal,
        tax_rate=shop.tax_rate,
        seller=Party(
            name=shop.name,
            email=shop.contact_email,
            address=shop.address,
            legal_name=shop.legal_name or shop.name,
            tax_id=shop.tax_id,
        ),
        buyer=Party(
            name=order.customer_name,
            email=order.customer_email,
            address="\n".join(
                part
                for part in (
                    address.get("line1", ""),
                    address.get("line2", ""),
                    " ".join(filter(None, [address.get("postal_code"), address.get("city")])),
                    address.get("region", ""),
                    address.get("country", ""),
                )
                if part
            ),
        ),
        lines=tuple(
            InvoiceLine(
                sku=line.sku,
                name=line.name,
                unit_price=line.unit_price,
                quantity=line.quantity,
                line_total=line.line_total,
            )
            for line in order.lines.all()
        ),
    )


def order_status(*, order_id: UUID) -> str | None:
    return Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
