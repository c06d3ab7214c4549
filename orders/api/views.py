"""The shops' REST API: each view parses, calls one service or selector, and renders."""

from uuid import UUID

from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from orderflow.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from orderflow.api.idempotency import idempotency_key_from, idempotent

from .. import selectors, services
from ..choices import OrderStatus
from ..exceptions import OrderError
from ..models import Order, Product, sku_validator
from ..services.remainder import order_cancel_remainder
from . import examples, lean
from .filters import OrderFilter
from .pagination import OrderCursorPagination, ProductCursorPagination
from .serializers import (
    OrderActionInputSerializer,
    OrderCancelInputSerializer,
    OrderCreateInputSerializer,
    OrderOutputSerializer,
    OrderShipInputSerializer,
    OrderUpdateInputSerializer,
    ProductCreateInputSerializer,
    ProductOutputSerializer,
    ProductUpdateInputSerializer,
    order_documents,
)

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="A unique key per request (e.g. a UUID). A retry with the same key and body "
    "gets the first response with `Idempotent-Replayed: true`; kept 24 h.",
)
PROBLEM = OpenApiResponse(description="An RFC 9457 problem document.")


def _shop_scope(request) -> str:
    return f"shop:{request.user.shop.pk}"


def _order_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise Http404("No such order.") from None


def _filter_errors(filterset) -> ValidationError:
    """Carry each form error's own code (``invalid_choice``), which ``errors`` would drop."""
    return ValidationError(
        {
            field: [
                ErrorDetail(message, code=error.code or "invalid")
                for error in errors
                for message in error.messages
            ]
            for field, errors in filterset.errors.as_data().items()
        }
    )


class OrderListCreateApi(APIView):
    pagination_class = OrderCursorPagination

    @classmethod
    def as_view(cls, **initkwargs):
        """The DRF view behind the lean intake: ``POST`` tries :func:`lean.place` first.

        The lean path answers the ordinary new order and replay; whatever it leaves (None)
        is answered here, unchanged. The wrapper keeps the view's attributes (``cls``,
        ``csrf_exempt``…), so the schema generator and Django see the same view.
        """
        view = super().as_view(**initkwargs)

        def lean_first(request, *args, **kwargs):
            if request.method == "POST":
                response = lean.place(request)
                if response is not None:
                    return response
            return view(request, *args, **kwargs)

        lean_first.__dict__.update(view.__dict__)
        lean_first.__name__ = view.__name__
        lean_first.__qualname__ = view.__qualname__
        lean_first.__module__ = view.__module__
        lean_first.__doc__ = view.__doc__
        return lean_first

    @extend_schema(
        operation_id="orders_list",
        summary="List orders",
        description="The shop's orders, newest first, a page at a time: follow `next` (an "
        "opaque cursor) for the next page. Filters combine; repeat `status` for several. An "
        "invalid filter, `limit` or `cursor` is a 400 naming the parameter.",
        examples=[examples.order_answer("A page of one order", examples.ORDER)],
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, many=True, enum=OrderStatus.values),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
            OpenApiParameter("email", OpenApiTypes.EMAIL),
            OpenApiParameter(
                "number", OpenApiTypes.STR, description="The order's number, e.g. OF-7SR8K4PG."
            ),
            OpenApiParameter(
                "external_reference",
                OpenApiTypes.STR,
                description="The shop's own reference for the order (exact).",
            ),
            OpenApiParameter(
                "updated_after",
                OpenApiTypes.DATETIME,
                description="Orders changed at or after this ISO 8601 date-time.",
            ),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OrderCursorPagination.limit_parameter(),
        ],
        responses={200: OrderOutputSerializer(many=True)},
    )
    def get(self, request):
        orders = selectors.order_list_for_shop(shop=request.user.shop)
        filterset = OrderFilter(request.query_params, queryset=orders, request=request)
        if not filterset.is_valid():
            raise _filter_errors(filterset)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(filterset.qs, request, view=self)
        return paginator.get_paginated_response(order_documents(page))

    @extend_schema(
        operation_id="orders_create",
        summary="Place an order",
        description="The body names SKUs and quantities only: prices, taxes, shipping and "
        "discounts come from the shop's catalog and settings, and the answer shows what was "
        "charged. The order starts `placed` and moves on by itself (stock held, payment "
        "taken, confirmed); follow it with GET, the event feed or webhooks. Send an "
        "`Idempotency-Key`: a retry with the same key and body answers the same order.",
        examples=examples.ORDER_CREATE,
        request=OrderCreateInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: OrderOutputSerializer,
            400: PROBLEM,
            409: OpenApiResponse(
                description="The Idempotency-Key is in flight (request-in-flight); the "
                "shop already has an order with this external_reference "
                "(external-reference-taken: `order_id`, `order_number` and `order_url` name "
                "it); a discount code was used up meanwhile (discount-exhausted) or by this "
                "customer already (discount-already-used): `discount_code` names it."
            ),
            422: PROBLEM,
        },
    )
    def post(self, request):
        serializer = OrderCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        idempotency_key = idempotency_key_from(request) or ""

        def place() -> tuple[int, dict]:
            try:
                order = services.order_place(
                    shop=request.user.shop,
                    customer=services.CustomerInput(
                        name=data["customer"]["name"], email=data["customer"]["email"]
                    ),
                    customer_locale=data["customer"].get("locale", ""),
                    shipping_method=data.get("shipping_method", ""),
                    discount_codes=data.get("discount_codes", []),
                    shipping_address=data["shipping_address"],
                    lines=[services.LineInput(**line) for line in data["lines"]],
                    payment_token=data["payment"].get("token", ""),
                    paid_externally=_paid_externally(data["payment"]),
                    idempotency_key=idempotency_key,
                    actor=request.user.actor,
                    external_reference=data.get("external_reference", ""),
                    metadata=data.get("metadata", {}),
                )
            except services.ExternalReferenceTaken as taken:
                taken.extra["order_url"] = request.build_absolute_uri(
                    reverse("order-detail", args=[taken.order_id])
                )
                raise
            return status.HTTP_201_CREATED, order_documents([order])[0]

        return idempotent(request, scope=_shop_scope(request), operation=place)


def _paid_externally(payment: dict) -> services.ExternalPayment | None:
    if "external_reference" not in payment:
        return None
    return services.ExternalPayment(
        reference=payment["external_reference"], amount=payment["amount"]
    )


class OrderDetailApi(APIView):
    @extend_schema(
        operation_id="orders_retrieve",
        summary="Get an order",
        description="One order of the shop, with its lines, totals, payment status and the "
        "actions its state allows now (`allowed_actions`). Another shop's order is a 404.",
        responses={200: OrderOutputSerializer},
        examples=[examples.order_answer("Confirmed", examples.CONFIRMED)],
    )
    def get(self, request, order_id: str):
        try:
            order = selectors.order_get_for_shop(
                shop=request.user.shop, order_id=_order_id(order_id)
            )
        except Order.DoesNotExist:
            raise Http404("No such order.") from None
        return Response(order_documents([order])[0])

    @extend_schema(
        operation_id="orders_partial_update",
        summary="Replace an order's metadata",
        description="`metadata` is the only field of an order a shop may change; it is "
        "replaced as a whole (`{}` removes every key, a body without it changes nothing).",
        request=OrderUpdateInputSerializer,
        examples=[
            OpenApiExample(
                "Tag the order",
                value={"metadata": {"channel": "web", "gift": "yes"}},
                request_only=True,
            ),
            examples.order_answer(
                "Changed", {**examples.ORDER, "metadata": {"channel": "web", "gift": "yes"}}
            ),
        ],
        responses={200: OrderOutputSerializer, 400: PROBLEM},
    )
    def patch(self, request, order_id: str):
        serializer = OrderUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data, parsed_id, shop = serializer.validated_data, _order_id(order_id), request.user.shop
        try:
            if "metadata" in data:
                order = services.order_change_metadata(
                    order_id=parsed_id, shop=shop, metadata=data["metadata"]
                )
            else:
                order = selectors.order_get_for_shop(shop=shop, order_id=parsed_id)
        except Order.DoesNotExist:
            raise Http404("No such order.") from None
        return Response(order_documents([order])[0])


class _OrderActionApi(APIView):
    """POST an action on one order: parse, call one service, answer with the order."""

    #: validates the body (an action without fields refuses any); subclasses define ``act()``
    input_serializer = OrderActionInputSerializer

    def post(self, request, order_id: str):
        serializer = self.input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        parsed_id = _order_id(order_id)

        kept: list[OrderError] = []

        def run() -> tuple[int, dict]:
            try:
                order = self.act(request, parsed_id, data)
            except Order.DoesNotExist:
                raise Http404("No such order.") from None
            except OrderError as error:
                if not error.writes_stand:
                    raise  # a refusal: the request's transaction rolls back
                # What the service wrote before the error is a fact (a declined refund):
                # answered as an error that is not 2xx, so the idempotency store commits
                # it and keeps no answer for the key; the problem is raised below.
                kept.append(error)
                return error.status, {}
            return status.HTTP_200_OK, order_documents([self.answer(request, order)])[0]

        response = idempotent(request, scope=_shop_scope(request), operation=run)
        if kept:
            raise kept[0]  # committed: rendered as every problem is
        return response

    def answer(self, request, order: Order) -> Order:
        """The order as the answer shows it: read again, with its lines and parcels."""
        return selectors.order_get_for_shop(shop=request.user.shop, order_id=order.pk)


def _action_schema(operation_id: str, request, *, summary: str, description: str, examples: list):
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        description=description
        + " An action the order's state does not allow is a 409 invalid-transition naming "
        "`allowed_actions`.",
        examples=examples,
        request=request,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: OrderOutputSerializer, 400: PROBLEM, 404: PROBLEM, 409: PROBLEM},
    )


class OrderCancelApi(_OrderActionApi):
    input_serializer = OrderCancelInputSerializer

    @_action_schema(
        "orders_cancel",
        OrderCancelInputSerializer,
        summary="Cancel an order",
        description="Allowed until the order ships. Its stock is released, a captured "
        "payment refunded and an issued invoice credited; `reason` (optional) is kept as "
        "the order's `status_reason`.",
        examples=[
            OpenApiExample(
                "The customer changed their mind",
                value={"reason": "customer changed their mind"},
                request_only=True,
            ),
            examples.order_answer(
                "Cancelled",
                {
                    **examples.ORDER,
                    "status": "cancelled",
                    "status_reason": "customer changed their mind",
                    "allowed_actions": [],
                },
            ),
        ],
    )
    def post(self, request, order_id: str):
        return super().post(request, order_id)

    def act(self, request, order_id, data):
        return services.order_cancel(
            order_id=order_id,
            shop=request.user.shop,
            actor=request.user.actor,
            reason=data["reason"],
        )


#: a partly shipped order whose coffee left in one parcel and whose mug never will
REMAINDER_CANCELLED = {
    **examples.SHIPPED,
    "status_reason": "The mug is out of stock",
    "payment_status": "partially_refunded",
    "refunded_total": "9.90",
    "shipments": [
        {
            **examples.SHIPPED["shipments"][0],
            "lines": [{"sku": "COFFEE-1KG", "quantity": 2}],
        }
    ],
}


class OrderCancelRemainderApi(_OrderActionApi):
    input_serializer = OrderCancelInputSerializer

    @extend_schema(
        operation_id="orders_cancel_remainder",
        summary="Cancel what has not shipped of a partly shipped order",
        description="For a `partially_shipped` order: the units still in the warehouse (each "
        "line's quantity less its units in the order's parcels) will not ship. In one "
        "transaction their stock is released, their share of the payment is refunded as a "
        "refund of lines (with its credit note; shipping is not refunded) and the order "
        "becomes `shipped`, or `out_for_delivery` / `delivered` when its parcels already "
        "are. Publishes `order.remainder_cancelled` (the customer is e-mailed what will not "
        "come and the money back). `reason` (optional) is kept as `status_reason`. "
        "Answers the order. Refusals, with nothing changed, are 409s: "
        "`remainder-not-cancellable` (nothing shipped yet: cancel the order instead; "
        "everything shipped or cancelled already, as a repeated request finds; `cause` "
        "says which), `payment-in-flight` (a capture on shipment not made yet; retry after "
        "`Retry-After`), `remainder-refund-refused` (earlier refunds already gave back "
        "those units or that money: refund what is left first); a request with the same "
        "`Idempotency-Key` still in flight is a 409 too.",
        examples=[
            OpenApiExample(
                "The mug will not come",
                value={"reason": "The mug is out of stock"},
                request_only=True,
            ),
            examples.no_body(),
            examples.order_answer("The rest cancelled", REMAINDER_CANCELLED),
        ],
        request=OrderCancelInputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: OrderOutputSerializer, 400: PROBLEM, 404: PROBLEM, 409: PROBLEM},
    )
    def post(self, request, order_id: str):
        return super().post(request, order_id)

    def act(self, request, order_id, data):
        return order_cancel_remainder(
            order_id=order_id,
            shop=request.user.shop,
            actor=request.user.actor,
            reason=data["reason"],
        ).order


class OrderShipApi(_OrderActionApi):
    input_serializer = OrderShipInputSerializer

    @_action_schema(
        "orders_ship",
        OrderShipInputSerializer,
        summary="Ship an order in one parcel",
        description="A confirmed order leaves with one carrier and tracking number; the "
        "carrier must be one the shop ships with (400 otherwise), and a number already on "
        "a parcel on the road is a 409 tracking-number-in-use.",
        examples=[
            OpenApiExample(
                "By DHL",
                value={"carrier": "DHL", "tracking_number": "JD014600006281"},
                request_only=True,
            ),
            examples.order_answer("Shipped", examples.SHIPPED),
        ],
    )
    def post(self, request, order_id: str):
        return super().post(request, order_id)

    def answer(self, request, order: Order) -> Order:
        # the service's order is current (locked, moved and written in memory) and holds its
        # lines: only its parcels are read
        return selectors.order_with_parcels(order=order)

    def act(self, request, order_id, data):
        return services.order_ship(
            order_id=order_id,
            shop=request.user.shop,
            actor=request.user.actor,
            carrier=data["carrier"],
            tracking_number=data["tracking_number"],
        )


class OrderOutForDeliveryApi(_OrderActionApi):
    @_action_schema(
        "orders_out_for_delivery",
        OrderActionInputSerializer,
        summary="Mark a shipped order out for delivery",
        description="For shops that hear from their carrier themselves; a carrier that "
        "pushes events does it through POST /api/v1/carrier-events. No body, or `{}`.",
        examples=[
            examples.no_body(),
            examples.order_answer(
                "Out for delivery",
                {**examples.SHIPPED, "status": "out_for_delivery", "allowed_actions": ["deliver"]},
            ),
        ],
    )
    def post(self, request, order_id: str):
        return super().post(request, order_id)

    def act(self, request, order_id, data):
        return services.order_mark_out_for_delivery(
            order_id=order_id, shop=request.user.shop, actor=request.user.actor
        )


class OrderDeliverApi(_OrderActionApi):
    @_action_schema(
        "orders_deliver",
        OrderActionInputSerializer,
        summary="Mark a shipped order delivered",
        description="The order's last step; the customer's page and e-mail say so. No body, "
        "or `{}`.",
        examples=[
            examples.no_body(),
            examples.order_answer(
                "Delivered",
                {**examples.SHIPPED, "status": "delivered", "allowed_actions": []},
            ),
        ],
    )
    def post(self, request, order_id: str):
        return super().post(request, order_id)

    def act(self, request, order_id, data):
        return services.order_deliver(
            order_id=order_id, shop=request.user.shop, actor=request.user.actor
        )


class ProductListCreateApi(APIView):
    pagination_class = ProductCursorPagination

    @extend_schema(
        operation_id="products_list",
        summary="List products",
        description="The shop's catalog by SKU, a page at a time (follow `next`). `stock` is "
        "on hand, `reserved` held for open orders, `available` the difference.",
        examples=[
            OpenApiExample("A page of one product", value=examples.PRODUCT, response_only=True)
        ],
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR),
            ProductCursorPagination.limit_parameter(),
        ],
        responses={200: ProductOutputSerializer(many=True)},
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.product_list_for_shop(shop=request.user.shop), request, view=self
        )
        return paginator.get_paginated_response(ProductOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="products_create",
        summary="Add a product",
        description="A SKU is unique in the shop (a second is a 400 `unique`); the price is a "
        "decimal string in the shop's currency. Orders placed later are priced with it.",
        request=ProductCreateInputSerializer,
        examples=examples.PRODUCT_CREATE,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: ProductOutputSerializer, 400: PROBLEM},
    )
    def post(self, request):
        serializer = ProductCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def create() -> tuple[int, dict]:
            product = services.product_create(shop=request.user.shop, **serializer.validated_data)
            return status.HTTP_201_CREATED, ProductOutputSerializer(product).data

        return idempotent(request, scope=_shop_scope(request), operation=create)


class ProductDetailApi(APIView):
    def _product(self, request, sku: str) -> Product:
        if not sku_validator.regex.fullmatch(sku):
            # no product can have it, and a NUL in it was a database error (500)
            raise Http404(f"No product with SKU {sku!r}.")
        try:
            return selectors.product_get_for_shop(shop=request.user.shop, sku=sku)
        except Product.DoesNotExist:
            raise Http404(f"No product with SKU {sku!r}.") from None

    @extend_schema(
        operation_id="products_retrieve",
        summary="Get a product",
        description="One product of the shop's catalog by SKU, with its stock.",
        responses={200: ProductOutputSerializer},
        examples=[OpenApiExample("Black tea", value=examples.PRODUCT, response_only=True)],
    )
    def get(self, request, sku: str):
        return Response(ProductOutputSerializer(self._product(request, sku)).data)

    @extend_schema(
        operation_id="products_partial_update",
        summary="Change a product",
        description="Name, price, stock on hand, tax class or weight; fields left out stay. "
        "Stock cannot go below what is reserved (400 `below_reserved`), and an order keeps "
        "the prices it was placed at.",
        request=ProductUpdateInputSerializer,
        examples=examples.PRODUCT_UPDATE,
        responses={200: ProductOutputSerializer, 400: PROBLEM},
    )
    def patch(self, request, sku: str):
        serializer = ProductUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = services.product_update(
            product=self._product(request, sku), **serializer.validated_data
        )
        return Response(ProductOutputSerializer(product).data)
