import uuid
from decimal import Decimal

import factory

from orders import services, state_machine
from orders.choices import OrderStatus
from orders.models import Order, Product, Shop, ShopCarrier

#: the carriers a test shop ships with unless told otherwise
TEST_CARRIERS = ("demo-post", "DHL", "UPS")


class ShopFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Shop
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Shop {n}")
    slug = factory.Sequence(lambda n: f"shop-{n}")
    currency = "EUR"
    contact_email = factory.LazyAttribute(lambda shop: f"{shop.slug}@example.com")

    @factory.post_generation
    def carriers(shop, create, extracted, **kwargs):
        """Bind the shop to ``TEST_CARRIERS``, or to the carriers given (``carriers=[]``)."""
        if create:
            names = TEST_CARRIERS if extracted is None else extracted
            ShopCarrier.objects.bulk_create(ShopCarrier(shop=shop, carrier=n) for n in names)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    shop = factory.SubFactory(ShopFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("10.00")
    currency = factory.LazyAttribute(lambda product: product.shop.currency)
    on_hand = 100


def api_key_for(shop: Shop) -> str:
    return services.api_key_create(shop=shop, name="test")[1]


def order_for(
    shop: Shop,
    *,
    lines: dict[str, int] | None = None,
    email: str = "ana@example.com",
    payment_token: str = "tok_ok",  # noqa: S107  (a test card token, not a password)
    idempotency_key: str = "",
    external_reference: str = "",
    metadata: dict[str, str] | None = None,
    **pricing,
) -> Order:
    """Place an order through the intake service, as the API would (lines: SKU -> quantity).

    ``pricing``: the service's other arguments (``shipping_method``, ``discount_codes``,
    ``customer_locale``, ``paid_externally``)."""
    return services.order_place(
        shop=shop,
        customer=services.CustomerInput(name="Ana Souza", email=email),
        shipping_address={
            "line1": "Rua A 1",
            "city": "São Paulo",
            "postal_code": "01000-000",
            "country": "BR",
        },
        lines=[
            services.LineInput(sku=sku, quantity=quantity)
            for sku, quantity in (lines or {"COFFEE-1KG": 1}).items()
        ],
        payment_token=payment_token,
        idempotency_key=idempotency_key,
        external_reference=external_reference,
        metadata=metadata,
        **pricing,
    )


#: The happy path, in order; ``advance`` walks an order along it one legal step at a time.
HAPPY_PATH = [
    OrderStatus.PLACED,
    OrderStatus.RESERVED,
    OrderStatus.PAID,
    OrderStatus.CONFIRMED,
    OrderStatus.SHIPPED,
    OrderStatus.OUT_FOR_DELIVERY,
    OrderStatus.DELIVERED,
]


def advance(order, *, to: str):
    """Move ``order`` to ``to`` through the state machine, step by step (no shortcuts)."""
    if to in HAPPY_PATH:
        for status in HAPPY_PATH[HAPPY_PATH.index(order.status) + 1 : HAPPY_PATH.index(to) + 1]:
            state_machine.transition(order, to=status)
    else:
        state_machine.transition(order, to=to)
    return order


#: who moves orders along in the tests, as written into the transition history
STAFF = services.Actor(kind="staff", name="ana")


def order_in(
    shop: Shop,
    status: str,
    *,
    lines: dict[str, int] | None = None,
    payment_token: str = "tok_ok",  # noqa: S107  (a test card token, not a password)
    idempotency_key: str = "",
) -> Order:
    """Place an order and bring it to ``status`` through the real services.

    Unlike :func:`advance`, the stock really is held from ``reserved`` on and consumed
    on shipping, so tests can assert exactly what a later step releases or consumes.
    ``paid`` is the one stop no service makes (payment confirms at once): the order is
    reserved by the service, then moved to ``paid`` by the state machine.
    """
    if status not in (*HAPPY_PATH, OrderStatus.CANCELLED):
        raise ValueError(f"order_in cannot reach {status!r}; reject with a shortage instead")
    order = order_for(shop, lines=lines, payment_token=payment_token)
    if status == OrderStatus.PLACED:
        return order
    if status == OrderStatus.CANCELLED:
        return services.order_cancel(order_id=order.pk, shop=None, actor=STAFF)
    order = services.order_reserve_stock(order_id=order.pk)
    assert order.status == OrderStatus.RESERVED, order.status_reason
    if status == OrderStatus.PAID:
        return state_machine.transition(order, to=OrderStatus.PAID)
    if HAPPY_PATH.index(status) >= HAPPY_PATH.index(OrderStatus.CONFIRMED):
        order = services.order_confirm_payment(
            order_id=order.pk, payment_id=uuid.uuid4(), amount=order.total, currency=order.currency
        )
    if HAPPY_PATH.index(status) >= HAPPY_PATH.index(OrderStatus.SHIPPED):
        # one tracking number per parcel: a number names one parcel on the road
        order = services.order_ship(
            order_id=order.pk,
            shop=None,
            actor=STAFF,
            carrier="DHL",
            tracking_number=f"JD{order.number.removeprefix('OF-')}",
        )
    if HAPPY_PATH.index(status) >= HAPPY_PATH.index(OrderStatus.OUT_FOR_DELIVERY):
        order = services.order_mark_out_for_delivery(order_id=order.pk, shop=None, actor=STAFF)
    if status == OrderStatus.DELIVERED:
        order = services.order_deliver(order_id=order.pk, shop=None, actor=STAFF)
    return order
