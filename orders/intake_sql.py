"""The lean intake's two statements: what a new order reads, and the order written at once.

The orders context owns them (the kernel's idempotency rules decide what a key row means:
:mod:`orderflow.idempotency`). On PostgreSQL, ``POST /api/v1/orders`` costs:

1. :func:`read` — one SELECT: is the API key still usable (not revoked, not expired),
   the shop's currency and name, the request's idempotency key row if any, and the
   catalog rows of the SKUs asked for. A replay is answered from this alone.
2. :func:`write` — one INSERT statement of data-modifying CTEs, its own transaction in
   autocommit: the advisory lock on the idempotency key is *tried* and the key checked
   again (revocation and a twin's row included, so a key revoked after step 1 cannot
   write), and only then the order, its lines, its ``order.placed`` outbox row and the
   key row with the stored response are inserted. Nothing or everything is written.

Both are server-side prepared statements on a psycopg cursor of Django's connection
(Django's own cursors bind on the client and cannot prepare), with no SAVEPOINT: inside
an outer transaction (a test's, or a caller's ``atomic``) the write runs in a savepoint
so that a unique violation leaves the outer transaction usable.

Column lists come from the models, so the statements follow the models as the ORM would.
Each row the write inserts (the order, its outbox row, its key row, and the lines as one
array) travels as **one jsonb parameter keyed by column**, typed by PostgreSQL with the
table's own row type (``jsonb_populate_record``) and so stored as the ORM stores it: a
parameter per column cost psycopg a dumper each, ≈ 10 % of a new order's CPU in the web
process (docs/performance.md). Each value is made JSON by :func:`_to_json` for its field:
a value already of the column's Python type as it is, any other through the field's own
``get_prep_value``; JSON is encoded by orjson with Django's encoder for what orjson leaves
(decimals, and datetimes inside JSON columns). The statements are written with named
placeholders and sent with PostgreSQL's own ``$n`` ones (:func:`_positional`): psycopg
parses a long statement again on every call.
"""

import functools
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from psycopg.types.json import Jsonb

from orderflow.events.workqueue import kept_cursor
from orderflow.idempotency import StoredKey
from orderflow.models import IdempotencyKey, OutboxEvent

from .models import Order, OrderLine, Product, ShippingMethod, Shop, ShopAPIKey, TaxRate
from .services.order_pricing import MethodRow

#: what a unique violation of the write names when a twin committed the same key first
IDEMPOTENCY_CONSTRAINT = "idempotency_unique_scope_key"


def _columns(model) -> list:
    """The columns an INSERT names: every concrete field but a database-generated id."""
    return [
        field
        for field in model._meta.concrete_fields
        if field.get_internal_type() not in ("AutoField", "BigAutoField", "SmallAutoField")
    ]


def _cast(field) -> str:
    return field.cast_db_type(connection)


_ORDER_FIELDS = _columns(Order)
_LINE_FIELDS = [f for f in _columns(OrderLine) if f.name != "order"]
_EVENT_FIELDS = _columns(OutboxEvent)
_KEY_FIELDS = _columns(IdempotencyKey)


@dataclass(frozen=True)
class _Statement:
    """A statement with ``$n`` placeholders, and the parameter name each number stands for."""

    text: str
    sql: bytes
    names: tuple[str, ...]

    def bind(self, params: dict) -> list:
        return [params[name] for name in self.names]


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _positional(text: str) -> _Statement:
    """``text`` with each ``%(name)s`` as ``$n`` (a name used twice keeps its number)."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _Statement(text=text, sql=_PLACEHOLDER.sub(number, text).encode(), names=tuple(names))


_READ_SQL = f"""
SELECT
    EXISTS (
        SELECT 1 FROM {ShopAPIKey._meta.db_table} k
        WHERE k.id = %(key_id)s AND NOT k.revoked
          AND (k.expiry_date IS NULL OR k.expiry_date > statement_timestamp())
    ),
    s.currency, s.name, s.prices_include_tax, s.tax_rate, s.language, s.capture_on_shipment,
    s.contact_email,
    i.fingerprint, i.response_status, i.response_body, i.expires_at > statement_timestamp(),
    p.ids, p.skus, p.names, p.prices, p.currencies, p.classes, p.weights,
    t.classes, t.countries, t.rates,
    EXISTS (SELECT 1 FROM {ShippingMethod._meta.db_table} WHERE shop_id = s.id AND active),
    m.code, m.name, m.kind, m.price, m.weight_bands, m.free_above, m.countries, m.tax_class
FROM {Shop._meta.db_table} s
LEFT JOIN {IdempotencyKey._meta.db_table} i
    ON i.scope = %(scope)s::varchar AND i.key = %(ikey)s::varchar
CROSS JOIN LATERAL (
    SELECT array_agg(id) AS ids, array_agg(sku) AS skus, array_agg(name) AS names,
           array_agg(price) AS prices, array_agg(currency) AS currencies,
           array_agg(tax_class) AS classes, array_agg(weight_grams) AS weights
    FROM {Product._meta.db_table}
    WHERE shop_id = s.id AND sku = ANY(%(skus)s::varchar[])
) p
CROSS JOIN LATERAL (
    SELECT array_agg(tax_class) AS classes, array_agg(country) AS countries,
           array_agg(rate) AS rates
    FROM {TaxRate._meta.db_table}
    WHERE shop_id = s.id AND country IN (%(country)s::varchar, '')
) t
LEFT JOIN {ShippingMethod._meta.db_table} m
    ON m.shop_id = s.id AND m.active
   AND (m.code = %(method)s::varchar OR (%(method)s::varchar IS NULL AND m.is_default))
WHERE s.id = %(shop_id)s::bigint
"""  # noqa: S608 (table names come from the models, values are parameters)
_READ = _positional(_READ_SQL)


def _record_columns(fields) -> str:
    return ", ".join(f"r.{connection.ops.quote_name(f.column)}" for f in fields)


def _record(model, param: str) -> str:
    """``model``'s row from the jsonb object ``param``, typed by the table's own row type."""
    return f"jsonb_populate_record(NULL::{model._meta.db_table}, %({param})s::jsonb) r"


def _names(fields) -> str:
    return ", ".join(connection.ops.quote_name(f.column) for f in fields)


#: the lines travel as one jsonb array of objects keyed by column, typed here: one
#: parameter for psycopg to dump, where an array per column cost a dumper each (≈ 7 % of
#: an order's CPU in the web process, docs/performance.md)
_LINE_RECORD = ", ".join(f"{connection.ops.quote_name(f.column)} {_cast(f)}" for f in _LINE_FIELDS)

_WRITE_SQL = f"""
WITH gate AS (
    SELECT
        CASE WHEN %(lock)s::text IS NULL THEN true
             ELSE pg_try_advisory_xact_lock(hashtextextended(%(lock)s::text, 0)) END AS locked,
        EXISTS (
            SELECT 1 FROM {ShopAPIKey._meta.db_table} k
            WHERE k.id = %(key_id)s AND NOT k.revoked
              AND (k.expiry_date IS NULL OR k.expiry_date > statement_timestamp())
        ) AS key_ok,
        NOT EXISTS (
            SELECT 1 FROM {IdempotencyKey._meta.db_table} i
            WHERE i.scope = %(k_scope)s::varchar AND i.key = %(k_key)s::varchar
        ) AS fresh
),
o AS (
    INSERT INTO {Order._meta.db_table} ({_names(_ORDER_FIELDS)})
    SELECT {_record_columns(_ORDER_FIELDS)} FROM gate, {_record(Order, "order")}
    WHERE locked AND key_ok AND fresh
    RETURNING id
),
l AS (
    INSERT INTO {OrderLine._meta.db_table} ({connection.ops.quote_name(OrderLine._meta.get_field("order").column)}, {_names(_LINE_FIELDS)})
    SELECT o.id, u.* FROM o, jsonb_to_recordset(%(lines)s::jsonb) AS u({_LINE_RECORD})
    RETURNING 1
),
e AS (
    INSERT INTO {OutboxEvent._meta.db_table} ({_names(_EVENT_FIELDS)})
    SELECT {_record_columns(_EVENT_FIELDS)} FROM o, {_record(OutboxEvent, "event")}
    RETURNING 1
),
k AS (
    INSERT INTO {IdempotencyKey._meta.db_table} ({_names(_KEY_FIELDS)})
    SELECT {_record_columns(_KEY_FIELDS)} FROM o, {_record(IdempotencyKey, "key_row")}
    WHERE %(k_key)s::varchar IS NOT NULL
    RETURNING 1
)
SELECT locked, key_ok, fresh, (SELECT count(*) FROM o), (SELECT count(*) FROM l)
FROM gate
"""  # noqa: S608, E501 (names come from the models, values are parameters)
_WRITE = _positional(_WRITE_SQL)


@dataclass(frozen=True)
class CatalogRow:
    id: int
    sku: str
    name: str
    price: Decimal
    currency: str
    tax_class: str
    weight_grams: int


@dataclass(frozen=True)
class IntakeRead:
    key_usable: bool
    shop_currency: str
    shop_name: str
    stored: StoredKey | None
    products: dict[str, CatalogRow]
    prices_include_tax: bool
    standard_rate: Decimal
    shop_language: str
    capture_on_shipment: bool
    shop_email: str
    #: the shop's (class, country, rate) rows for the destination and for every country
    tax_rows: list[tuple[str, str, Decimal]]
    shop_has_methods: bool
    #: the shipping method asked for (none asked for: the shop's default), if active
    method: MethodRow | None


@dataclass(frozen=True)
class WriteOutcome:
    locked: bool
    key_usable: bool
    fresh: bool
    written: bool


def _log(db, sql: str, params: Any, started: float) -> None:
    # what Django records for its own cursors, so query-count assertions see these too
    if db.queries_logged:
        elapsed = time.monotonic() - started
        db.queries_log.append(
            {"sql": f"{sql.strip()[:80]}… {params!r:.200}", "time": f"{elapsed:.3f}"}
        )


def _raw_cursor(db, statement: _Statement) -> psycopg.RawCursor:
    """The statement's raw cursor (``$n`` placeholders, nothing parsed on the client), kept
    with the connection (:func:`~orderflow.events.workqueue.kept_cursor`): a connection kept
    between requests keeps each statement's adapters."""
    return kept_cursor(db, statement.sql, psycopg.RawCursor)


def _execute(statement: _Statement, params: dict) -> tuple:
    """Run one prepared statement and return its row, as Django's cursors would run it.

    Django's errors (IntegrityError, OperationalError…), its ``execute_wrapper``s (the
    instrumentation and tests that hook every query; they see the named text and
    parameters) and its query log all apply.
    """
    db = connections[DEFAULT_DB_ALIAS]  # the proxy ``connection`` costs a lookup per use
    db.ensure_connection()
    started = time.monotonic()
    try:
        with db.wrap_database_errors:
            cursor = _raw_cursor(db, statement)

            def run(sql, params, many, context):
                cursor.execute(statement.sql, statement.bind(params), prepare=True)
                return cursor.fetchone()

            executor = run
            for wrapper in reversed(db.execute_wrappers):
                executor = functools.partial(wrapper, executor)
            return executor(statement.text, params, False, {"connection": db, "cursor": cursor})
    finally:
        _log(db, statement.text, params, started)


def _json(value):
    # Django loads jsonb as text on its connections (it parses JSON itself)
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def read(
    *,
    key_id: str,
    shop_id: int,
    scope: str,
    idempotency_key: str | None,
    skus: Sequence[str],
    country: str = "",
    shipping_method: str = "",
) -> IntakeRead | None:
    """Round trip 1: the key's state, the shop and its pricing settings for ``country``
    (tax rates, the shipping method asked for), the stored key row and the catalog rows.

    None when the shop does not exist (the caller takes the ORM path, which explains).
    """
    row = _execute(
        _READ,
        {
            "key_id": key_id,
            "shop_id": shop_id,
            "scope": scope,
            "ikey": idempotency_key,
            "skus": list(skus),
            "country": country,
            "method": shipping_method or None,
        },
    )
    if row is None:
        return None
    (key_ok, currency, name, include_tax, standard_rate, language, capture_later) = row[:7]
    shop_email = row[7]
    fingerprint, status, body, live = row[8:12]
    ids, found, names, prices, curs, classes, weights = row[12:19]
    rate_classes, rate_countries, rates, has_methods = row[19:23]
    method = row[23:31]
    stored = None
    if fingerprint is not None:
        stored = StoredKey(
            fingerprint=fingerprint, status=status, body=_json(body), live=bool(live)
        )
    products = {}
    for index, sku in enumerate(found or ()):
        products[sku] = CatalogRow(
            id=ids[index],
            sku=sku,
            name=names[index],
            price=prices[index],
            currency=curs[index],
            tax_class=classes[index],
            weight_grams=weights[index],
        )
    code, m_name, kind, price, bands, free_above, countries, tax_class = method
    return IntakeRead(
        key_usable=bool(key_ok),
        shop_currency=currency,
        shop_name=name,
        stored=stored,
        products=products,
        prices_include_tax=include_tax,
        standard_rate=standard_rate,
        shop_language=language,
        capture_on_shipment=capture_later,
        shop_email=shop_email,
        tax_rows=list(zip(rate_classes or (), rate_countries or (), rates or (), strict=True)),
        shop_has_methods=has_methods,
        method=None
        if code is None
        else MethodRow(
            code=code,
            name=m_name,
            kind=kind,
            price=price,
            weight_bands=_json(bands),
            free_above=free_above,
            countries=_json(countries),
            tax_class=tax_class,
        ),
    )


_ENCODER = DjangoJSONEncoder()


def _json_dumps(value) -> bytes:
    """JSON as Django's encoder writes it, by orjson (the same jsonb once stored)."""
    return orjson.dumps(
        value,
        default=_ENCODER.default,
        option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS,
    )


#: the Python types a column's value is made JSON from as it is (orjson writes each as the
#: column reads it: decimals by Django's encoder, as their exact text)
_NATIVE = {
    "CharField": (str,),
    "TextField": (str,),
    "SlugField": (str,),
    "UUIDField": (uuid.UUID,),
    "DecimalField": (Decimal,),
    "BooleanField": (bool,),
    "PositiveIntegerField": (int,),
    "PositiveSmallIntegerField": (int,),
    "PositiveBigIntegerField": (int,),
    "IntegerField": (int,),
    "SmallIntegerField": (int,),
    "BigIntegerField": (int,),
    "BigAutoField": (int,),
    "AutoField": (int,),
}


def _iso(value: datetime | None) -> str | None:
    # the full precision (Django's JSON encoder would cut microseconds to milliseconds)
    return None if value is None else value.isoformat()


def _to_json(field) -> Callable[[Any], Any]:
    """How ``field``'s value goes into its row's JSON object, to be read back as the ORM
    would have stored it: as it is when of the column's type, else by ``get_prep_value``.
    A kind of column not known here fails at import: it cannot pass unchecked."""
    kind = (
        field.target_field.get_internal_type() if field.is_relation else field.get_internal_type()
    )
    if kind == "JSONField":
        return lambda value: value  # a document in the document; None is SQL NULL, as for the ORM
    if kind == "DateTimeField":
        return lambda value: (
            value.isoformat()
            if type(value) is datetime and value.tzinfo
            else _iso(field.get_prep_value(value))
        )
    native = _NATIVE.get(kind)
    if native is None:
        raise TypeError(f"{field.model.__name__}.{field.name}: {kind} is not written by the intake")
    return lambda value: value if type(value) in native else field.get_prep_value(value)


def _converters(fields) -> list[tuple[str, str, Callable, Any]]:
    return [(field.attname, field.column, _to_json(field), field) for field in fields]


_ORDER_JSON = _converters(_ORDER_FIELDS)
_EVENT_JSON = _converters(_EVENT_FIELDS)
_KEY_JSON = _converters(_KEY_FIELDS)
_LINE_JSON = _converters(_LINE_FIELDS)


def _row(converters, values: dict) -> dict:
    """The row's JSON object: each column's value (a missing field takes its default)."""
    return {
        column: convert(values[attname] if attname in values else field.get_default())
        for attname, column, convert, field in converters
    }


def write(
    *,
    key_id: str,
    lock: str | None,
    order: dict,
    lines: list[dict],
    event: dict,
    key_row: dict | None,
) -> WriteOutcome:
    """Round trip 2: the order, its lines, its outbox row and its key row, or nothing.

    ``order``/``event``/``key_row`` map field attnames to values (a missing field takes
    its model default); ``lines`` are dicts of the line fields. A unique violation (a
    number drawn twice, a twin's key row committed after this statement's snapshot)
    propagates as ``IntegrityError`` with nothing written.
    """
    params: dict[str, Any] = {
        "key_id": key_id,
        "lock": lock,
        "order": Jsonb(_row(_ORDER_JSON, order), _json_dumps),
        "event": Jsonb(_row(_EVENT_JSON, event), _json_dumps),
        "lines": Jsonb([_row(_LINE_JSON, line) for line in lines], _json_dumps),
    }
    if key_row is not None:
        params["key_row"] = Jsonb(_row(_KEY_JSON, key_row), _json_dumps)
        params["k_scope"], params["k_key"] = key_row["scope"], key_row["key"]
    else:  # no Idempotency-Key: the gate finds no row, the key CTE inserts none
        params["key_row"] = params["k_scope"] = params["k_key"] = None
    if connection.in_atomic_block:
        with transaction.atomic():
            row = _execute_wrapped(params)
    else:
        row = _execute_wrapped(params)
    locked, key_ok, fresh, orders, _ = row
    return WriteOutcome(locked=locked, key_usable=key_ok, fresh=fresh, written=orders == 1)


def _execute_wrapped(params: dict) -> tuple:
    return _execute(_WRITE, params)
