"""The lean hot path of ``POST /api/v1/orders``: two round trips for a new order, one for a replay.

A shop cannot tell it from the DRF view except by its speed. It serves the ordinary
request — a usable API key, a JSON body that passes every rule, no catalog error — and
hands every other request, unchanged, to the DRF view (:class:`views.OrderListCreateApi`),
which answers it as it always has: the same problem documents, field paths and codes from
the same code. Handing on is safe because nothing was written: a rejected request never
writes, and the write below is one statement (all or nothing).

- **API key**: ``Authorization: Bearer <key>``; a verified key (its SHA-256, never the
  secret) is remembered in this process for ``KEY_CACHE_SECONDS``, and both statements
  re-check that the key is neither revoked nor expired: **revocation takes effect on the
  next request**, cached or not (tested in ``orders/tests/api/test_lean_intake.py``).
- **Rate limit**: the per-shop counter script (``throttling.count_shop_request``), counted
  once whichever path answers.
- **Validation**: the input serializer's own rules, compiled once into a pydantic-core
  validator (structure, types, lengths, bounds, unknown fields: see :func:`_compile`),
  then each string's and number's own serializer validators (e-mail, pattern, NUL…).
  Any failure: the DRF view answers, with its document.
- **Idempotency**: the kernel's rules (:mod:`orderflow.idempotency`); the statements in
  :mod:`orders.intake_sql` try the advisory lock and write the key row with the order.
  A live key row with another body, a lock held by a twin, an expired row: the DRF view.
- **External reference**: the order's unique constraint decides; a violation writes
  nothing, and the DRF view answers it (409 ``external-reference-taken``, naming the first).
"""

import decimal
import hashlib
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinLengthValidator,
    MinValueValidator,
)
from django.db import IntegrityError, connection
from django.http import HttpResponse
from django.utils import timezone
from pydantic_core import SchemaValidator, core_schema
from pydantic_core import ValidationError as CoreValidationError
from rest_framework import serializers
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.settings import api_settings
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from orderflow.api.fast_routes import HANDED_ON
from orderflow.api.idempotency import REPLAYED_HEADER, key_is_valid
from orderflow.api.renderers import OrjsonRenderer
from orderflow.correlation import get_correlation_id, new_correlation_id
from orderflow.events import event_published
from orderflow.events.context import current_causation_id
from orderflow.events.kick import relay_after_commit
from orderflow.idempotency import (
    IdempotencyKeyReused,
    lock_name,
    new_expiry,
    replay_stored,
    request_fingerprint,
)
from orderflow.models import OutboxEvent
from orderflow.observability import tracing
from orderflow.url_paths import path_with
from payments.interface import NO_PAYMENT_YET

from .. import intake_sql, state_machine
from ..choices import OrderStatus
from ..events import OrderPlaced
from ..exceptions import OrderInputError
from ..models import Order
from ..pricing import PricedOrder
from ..services import api_key_authenticate, intake, order_pricing
from .serializers import (
    PRICE_PATTERN,
    MetadataField,
    OrderCreateInputSerializer,
    OrderLineOutputSerializer,
    OrderOutputSerializer,
    PriceInputField,
    ShippingAddressSerializer,
)
from .throttling import COUNTED_ATTRIBUTE, count_shop_request

#: how long this process trusts a verified key without hashing it again (revocation and
#: expiry are re-checked by every statement regardless)
KEY_CACHE_SECONDS = 30
KEY_CACHE_SIZE = 1024
#: the DRF view's Allow header (APIView.allowed_methods)
ALLOW = "GET, POST, HEAD, OPTIONS"
_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8"})
_ACCEPTS = frozenset({"", "*/*", "application/json", "application/*"})
#: the kill switch (and the bench's "before"): ``ORDER_INTAKE_LEAN`` in the settings, or
#: ``ORDER_INTAKE_LEAN=false`` in the environment, sends every request to the DRF view
_LEAN_BY_DEFAULT = os.environ.get("ORDER_INTAKE_LEAN", "true").strip().lower() != "false"
#: tries of the write: a number drawn twice, a twin's key row committed meanwhile
_ATTEMPTS = intake.NUMBER_ATTEMPTS + 2


# --- the API key ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Key:
    id: str
    prefix: str
    shop_id: int


_keys: dict[bytes, tuple[float, _Key]] = {}
_keys_lock = threading.Lock()


def _verified_key(authorization: str) -> tuple[bytes, _Key] | None:
    parts = authorization.split()
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1].isascii():
        return None
    digest = hashlib.sha256(parts[1].encode()).digest()
    cached = _keys.get(digest)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return digest, cached[1]
    api_key = api_key_authenticate(raw_key=parts[1])
    if api_key is None:
        return None
    key = _Key(id=api_key.pk, prefix=api_key.prefix, shop_id=api_key.shop_id)
    with _keys_lock:
        if len(_keys) >= KEY_CACHE_SIZE:
            _keys.clear()
        _keys[digest] = (now + KEY_CACHE_SECONDS, key)
    return digest, key


def forget_keys() -> None:
    """Drop every remembered key (tests; a key's revocation needs none of it)."""
    _keys.clear()


# --- validation: the serializer's rules, compiled -------------------------------------------
def _compile(field) -> core_schema.CoreSchema:
    """A strict pydantic-core schema accepting no more than ``field`` (a serializer or field).

    Only the field kinds the order body uses are known; another kind fails at import, so a
    new field cannot pass unchecked.
    """
    if getattr(field, "allow_null", False):
        raise TypeError(f"{field.field_name}: a nullable field is not compiled")
    if isinstance(field, serializers.ListSerializer):
        return core_schema.list_schema(
            _compile(field.child),
            min_length=field.min_length,
            max_length=field.max_length,
            strict=True,
        )
    if isinstance(field, serializers.Serializer):
        return core_schema.typed_dict_schema(
            {
                name: core_schema.typed_dict_field(_compile(child), required=child.required)
                for name, child in field.fields.items()
            },
            extra_behavior="forbid",
            strict=True,
        )
    if isinstance(field, PriceInputField):  # a payment's amount: the DRF view answers those
        return core_schema.str_schema(pattern=PRICE_PATTERN, strict=True)
    if isinstance(field, serializers.ListField):
        return core_schema.list_schema(
            _compile(field.child),
            min_length=field.min_length,
            max_length=field.max_length,
            strict=True,
        )
    if isinstance(field, serializers.ChoiceField):
        return core_schema.literal_schema(list(field.choices))
    if isinstance(field, MetadataField):  # its own rules run in _run_validators
        return core_schema.dict_schema(
            keys_schema=core_schema.str_schema(strict=True),
            values_schema=core_schema.str_schema(strict=True),
            max_length=field.max_keys,
            strict=True,
        )
    if isinstance(field, serializers.IntegerField):
        return core_schema.int_schema(ge=field.min_value, le=field.max_value, strict=True)
    if isinstance(field, serializers.CharField):  # EmailField, RegexField: validators below
        if field.trim_whitespace:
            raise TypeError(f"{field.field_name}: a trimmed string is not compiled")
        return core_schema.str_schema(
            min_length=max(field.min_length or 0, 0 if field.allow_blank else 1),
            max_length=field.max_length,
            strict=True,
        )
    raise TypeError(f"{field.field_name}: {type(field).__name__} is not compiled")


def _run_validators(field, value) -> None:
    """Each leaf's own serializer validators (e-mail, pattern, NUL, bounds), as DRF runs them."""
    if isinstance(field, serializers.ListSerializer | serializers.ListField):
        for item in value:
            _run_validators(field.child, item)
    elif isinstance(field, serializers.Serializer):
        for name, child in field.fields.items():
            if name in value:
                _run_validators(child, value[name])
    elif isinstance(field, MetadataField):
        field.to_internal_value(value)
    elif isinstance(field, PriceInputField):
        field.run_validation(value)
    elif not (value == "" and getattr(field, "allow_blank", False)):
        for validator in _LEAF_CHECKS[field]:
            validator(value)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(value) -> None:
    # ProhibitSurrogateCharactersValidator's rule, by one search instead of a loop per character
    if _SURROGATE.search(str(value)):
        raise DjangoValidationError("Surrogate characters are not allowed.")


def _leaf_checks(field) -> tuple:
    """``field``'s validators less the bounds the compiled schema checks already (the same
    limits, from the same field: see :func:`_compile`)."""
    checks = []
    for validator in field.validators:
        bound = next((name for kind, name in _SCHEMA_BOUNDS if isinstance(validator, kind)), None)
        if bound is not None and validator.limit_value == getattr(field, bound, None):
            continue
        if isinstance(validator, ProhibitSurrogateCharactersValidator):
            checks.append(_no_surrogates)
            continue
        checks.append(validator)
    return tuple(checks)


_SCHEMA_BOUNDS = (
    (MaxLengthValidator, "max_length"),
    (MinLengthValidator, "min_length"),
    (MaxValueValidator, "max_value"),
    (MinValueValidator, "min_value"),
)


def _leaves(field):
    if isinstance(field, serializers.ListSerializer | serializers.ListField):
        yield from _leaves(field.child)
    elif isinstance(field, serializers.Serializer):
        for child in field.fields.values():
            yield from _leaves(child)
    elif not isinstance(field, MetadataField | PriceInputField):
        yield field


_INPUT = OrderCreateInputSerializer()
_VALIDATOR = SchemaValidator(_compile(_INPUT))
#: each leaf's checks, worked out once
_LEAF_CHECKS = {field: _leaf_checks(field) for field in _leaves(_INPUT)}


def _validated(payload) -> dict | None:
    try:
        data = _VALIDATOR.validate_python(payload)
        _run_validators(_INPUT, data)
    except (CoreValidationError, DjangoValidationError, DrfValidationError):
        return None
    if set(data["payment"]) != {"token"}:
        # the lean path charges a token; a payment taken elsewhere is checked against the
        # order's total (and a body with neither or both refused) by the DRF view
        return None
    return data


# --- the response: OrderOutputSerializer's document ----------------------------------------------
_OUTPUT_FIELDS = OrderOutputSerializer().fields


def _decimal_text(field) -> Callable[[Decimal], str]:
    """``field.to_representation`` for a Decimal, with its quantum and context made once
    (DRF copies the context and raises 0.1 to a power on every call): the same text."""
    if (
        field.decimal_places is None
        or field.localize
        or not getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
    ):
        return field.to_representation
    quantum = Decimal(".1") ** field.decimal_places
    context = decimal.getcontext().copy()
    if field.max_digits is not None:
        context.prec = field.max_digits
    rounding = field.rounding

    def text(value: Decimal) -> str:
        if type(value) is not Decimal:
            return field.to_representation(value)
        return f"{value.quantize(quantum, rounding=rounding, context=context):f}"

    return text


_MONEY = _decimal_text(_OUTPUT_FIELDS["total"])
_LINE_MONEY = _decimal_text(OrderLineOutputSerializer().fields["unit_price"])
_RATE = _decimal_text(OrderLineOutputSerializer().fields["tax_rate"])
_DATETIME = _OUTPUT_FIELDS["created_at"]
_ADDRESS_FIELDS = list(ShippingAddressSerializer().fields)
_RENDERER = OrjsonRenderer()


def _tracking_url(token: str) -> str:
    return settings.PUBLIC_BASE_URL + path_with("tracking:public", token)


def _order_document(order: dict, priced: PricedOrder, products, address: dict) -> dict:
    status = order["status"]
    created_at = _DATETIME.to_representation(order["created_at"])
    updated_at = (
        created_at
        if order["updated_at"] == order["created_at"]
        else _DATETIME.to_representation(order["updated_at"])
    )
    return {
        "id": str(order["id"]),
        "number": order["number"],
        "external_reference": order["external_reference"],
        "status": status,
        "status_reason": "",
        "currency": order["currency"],
        "prices_include_tax": priced.prices_include_tax,
        "subtotal": _MONEY(priced.subtotal),
        "discount_total": _MONEY(priced.discount_total),
        "discounts": [],  # codes take the DRF view (see place)
        "shipping_method": priced.shipping_code,
        "shipping_total": _MONEY(priced.shipping_total),
        "tax_total": _MONEY(priced.tax_total),
        "total": _MONEY(priced.total),
        "payment_mode": order["payment_mode"],
        "payment_status": NO_PAYMENT_YET.status,
        "refunded_total": f"{NO_PAYMENT_YET.refunded_amount:.2f}",
        "customer": {
            "name": order["customer_name"],
            "email": order["customer_email"],
            "locale": order["customer_locale"],
        },
        "shipping_address": {name: address[name] for name in _ADDRESS_FIELDS if name in address},
        "lines": [
            {
                "sku": line.sku,
                "name": products[line.sku].name,
                "unit_price": _LINE_MONEY(line.unit_price),
                "quantity": line.quantity,
                "discount_amount": _LINE_MONEY(line.discount_amount),
                "line_total": _LINE_MONEY(line.line_total),
                "tax_rate": _RATE(line.tax_rate),
                "tax_amount": _LINE_MONEY(line.tax_amount),
            }
            for line in priced.lines
        ],
        "allowed_actions": state_machine.allowed_actions(status),
        "carrier": "",
        "tracking_number": "",
        "shipments": [],
        "tracking_url": _tracking_url(order["tracking_token"]),
        "metadata": order["metadata"],
        "created_at": created_at,
        "updated_at": updated_at,
    }


def _response(status: int, body, *, replayed: bool = False) -> HttpResponse:
    response = HttpResponse(_RENDERER.render(body), status=status, content_type="application/json")
    response["Allow"] = ALLOW
    if replayed:
        response[REPLAYED_HEADER] = "true"
    return response


# --- the path ------------------------------------------------------------------------------------
def _simple(request) -> bool:
    meta = request.META
    enabled = getattr(settings, "ORDER_INTAKE_LEAN", _LEAN_BY_DEFAULT)
    if not enabled or connection.vendor != "postgresql":
        return False
    if meta.get("CONTENT_TYPE", "").lower() not in _JSON_TYPES:
        return False
    return meta.get("HTTP_ACCEPT", "").strip() in _ACCEPTS


def place(request) -> HttpResponse | None:
    """Answer ``POST /api/v1/orders`` on the lean path, or None for the DRF view to answer.

    Served first as a fast route (:mod:`orderflow.api.fast_routes`), ahead of Django's
    middleware; a request it declined comes here again through the DRF view's wrapper,
    marked: it is not tried twice, and an exception it raised is raised again here, where
    Django's middleware answers it as it always has (an outage: 503).
    """
    handed_on = getattr(request, HANDED_ON, None)
    if handed_on is not None:
        if isinstance(handed_on, Exception):
            raise handed_on
        return None
    if not _simple(request):
        return None
    verified = _verified_key(request.META.get("HTTP_AUTHORIZATION", ""))
    if verified is None:
        return None  # the DRF view answers 401 with its document
    digest, key = verified
    allowed, retry_after = count_shop_request(key.shop_id)
    # the DRF view, if it answers after all, must not count the request twice
    setattr(request, COUNTED_ATTRIBUTE, True if allowed else retry_after)
    if not allowed:
        return None
    idempotency_key = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if idempotency_key is not None and not key_is_valid(idempotency_key):
        return None
    try:
        payload = orjson.loads(request.body)
    except (orjson.JSONDecodeError, RequestDataTooBig):
        return None
    data = _validated(payload)
    if data is None:
        return None
    if data.get("discount_codes"):
        # a code's use is taken under its row's lock, in a transaction: the DRF view's
        return None
    lines = [intake.LineInput(sku=line["sku"], quantity=line["quantity"]) for line in data["lines"]]
    country = data["shipping_address"]["country"]
    shipping_code = data.get("shipping_method", "")
    try:
        intake.check_lines(lines)
    except OrderInputError:
        return None
    scope = f"shop:{key.shop_id}"
    fingerprint = (
        request_fingerprint(method=request.method, path=request.path, payload=payload)
        if idempotency_key is not None
        else None
    )
    numbers_drawn = 0
    for _ in range(_ATTEMPTS):
        read = intake_sql.read(
            key_id=key.id,
            shop_id=key.shop_id,
            scope=scope,
            idempotency_key=idempotency_key,
            skus=[line.sku for line in lines],
            country=country,
            shipping_method=shipping_code,
        )
        if read is None or not read.key_usable:
            _keys.pop(digest, None)
            return None
        if read.stored is not None:
            try:
                replayed = replay_stored(read.stored, fingerprint)
            except IdempotencyKeyReused:
                return None  # the DRF view answers 422
            if replayed is None:
                return None  # expired: the DRF view deletes the row and runs the request
            return _response(replayed.status, replayed.body, replayed=True)
        try:
            priced = intake.priced_order(
                currency=read.shop_currency,
                lines=lines,
                products=read.products,
                setup=order_pricing.ShopPricing(
                    prices_include_tax=read.prices_include_tax,
                    standard_rate=read.standard_rate,
                    rates=order_pricing.rates_for(read.tax_rows, country),
                ),
                country=country,
                # none named: the shop's default, which the read found in its place
                shipping_code=shipping_code or (read.method.code if read.method else ""),
                methods={read.method.code: read.method} if read.method else {},
                shop_has_methods=read.shop_has_methods,
            )
        except OrderInputError:
            return None  # the DRF view answers, naming the fields
        numbers_drawn += 1
        outcome, placed = _write(
            key=key,
            read=read,
            data=data,
            priced=priced,
            scope=scope,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        )
        if outcome == "number-taken" and numbers_drawn < intake.NUMBER_ATTEMPTS:
            continue
        if outcome == "twin-committed":
            continue  # read again: the twin's response is replayed
        if outcome == "key-unusable":
            _keys.pop(digest, None)
            return None
        if outcome != "written":
            # in flight or reference taken (409), numbers exhausted: the DRF view answers
            return None
        return placed
    return None


def _write(*, key, read, data, priced, scope, idempotency_key, fingerprint):
    now = timezone.now()
    customer, address = data["customer"], data["shipping_address"]
    order = {
        "id": uuid.uuid4(),
        "shop_id": key.shop_id,
        "number": intake._new_number(),
        "status": OrderStatus.PLACED,
        "customer_name": customer["name"],
        "customer_email": customer["email"],
        "customer_locale": customer.get("locale") or read.shop_language,
        "shipping_address": address,
        "currency": read.shop_currency,
        **intake.order_amounts(priced),
        "payment_token": data["payment"]["token"],
        "payment_mode": intake.mode_of_payment(
            None, total=priced.total, capture_on_shipment=read.capture_on_shipment
        ),
        "external_reference": data.get("external_reference", ""),
        "metadata": data.get("metadata", {}),
        "tracking_token": Order._meta.get_field("tracking_token").get_default(),
        "created_at": now,
        "updated_at": now,
    }
    event = intake.placed_event(
        order_id=order["id"],
        shop_id=key.shop_id,
        number=order["number"],
        currency=order["currency"],
        customer_name=order["customer_name"],
        customer_email=order["customer_email"],
        customer_locale=order["customer_locale"],
        priced=priced,
        products=read.products,
        shipping_method=order["shipping_method"],
        payment_mode=order["payment_mode"],
        shop_email=read.shop_email,
        actor=f"shop-key:{key.prefix}",
        shop_name=read.shop_name,
        tracking_token=order["tracking_token"],
        external_reference=order["external_reference"],
        metadata=order["metadata"],
    )
    row = {
        "event_id": uuid.uuid4(),
        "type": OrderPlaced.type,
        "version": OrderPlaced.version,
        "aggregate": OrderPlaced.aggregate,
        "aggregate_id": event.aggregate_id,
        "sequence": 1,
        "tenant_id": event.tenant_id,
        "correlation_id": get_correlation_id() or new_correlation_id(),
        "causation_id": current_causation_id(),
        "idempotency_key": idempotency_key or "",
        "trace_context": tracing.current_trace_context(),
        "data": event.to_data(),
        "occurred_at": now,
        "created_at": now,
    }
    body = _order_document(order, priced, read.products, address)
    key_row = None
    if idempotency_key is not None:
        key_row = {
            "scope": scope,
            "key": idempotency_key,
            "fingerprint": fingerprint,
            "response_status": 201,
            "response_body": body,
            "created_at": now,
            "expires_at": new_expiry(),
        }
    try:
        outcome = intake_sql.write(
            key_id=key.id,
            lock=lock_name(scope, idempotency_key) if idempotency_key is not None else None,
            order=order,
            lines=[
                {
                    "product_id": read.products[line.sku].id,
                    **intake.line_fields(line, read.products),
                }
                for line in priced.lines
            ],
            event=row,
            key_row=key_row,
        )
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
        if constraint == intake.NUMBER_CONSTRAINT:
            return "number-taken", None
        if constraint == intake_sql.IDEMPOTENCY_CONSTRAINT:
            return "twin-committed", None
        if constraint == intake.EXTERNAL_REFERENCE_CONSTRAINT:
            return "reference-taken", None  # the DRF view answers 409, naming the first order
        raise
    if not outcome.key_usable:
        return "key-unusable", None
    if not outcome.locked:
        return "in-flight", None
    if not outcome.fresh:
        return "twin-committed", None
    # after commit (at once in autocommit; at the outer commit inside a transaction)
    event_published.send(sender=OrderPlaced, event=event, row=OutboxEvent(**row))
    relay_after_commit()  # as publish() does: the saga lane is kicked after commit
    return "written", _response(201, body)
