"""Follow an order through the admin: find and name every support row by the order it is for.

Payments, e-mails, webhook deliveries and events keep an order's id (and a shop's id), not
its number, its customer or its shop's name — and an admin may not read another context's
models to learn them. So the orders context hands the kernel one small directory
(``directory_set``: what a search term means as orders and shops, and each order's number
and shop name), and every support admin declares which of its columns hold an order's id
and a shop's id (``FollowsOrder``). Then, on every such admin page:

- a search for an order number, the shop's reference, a customer's e-mail or a shop's name
  finds the rows of those orders and shops (beside the admin's own search fields);
- ``?order=<uuid>`` shows the rows of one order: the links of the order's own admin page;
- the order and shop columns name the order (linked to it) and the shop, resolved for a
  whole page in one query whatever its length — never one per row.

The directory is read only here, in the admin: the hot paths never come through.
"""

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model, Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

#: the parameter of a changelist's URL that shows one order's rows
ORDER_PARAMETER = "order"


@dataclass(frozen=True)
class OrderRef:
    """An order as support rows show it: its number and its shop."""

    order_id: uuid.UUID
    number: str
    shop_id: int
    shop_name: str


@dataclass(frozen=True)
class Matches:
    """What a search term stands for: some orders (by id) and some shops (by id)."""

    order_ids: tuple[uuid.UUID, ...] = ()
    shop_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Directory:
    """The orders context's answers (see ``orders.selectors``), one query per call."""

    matching: Callable[[str], Matches]
    orders: Callable[[Iterable[uuid.UUID]], dict[uuid.UUID, OrderRef]]
    shops: Callable[[Iterable[int]], dict[int, str]]


_EMPTY = Directory(
    matching=lambda term: Matches(),
    orders=lambda ids: {},
    shops=lambda ids: {},
)
_directory: Directory = _EMPTY


def directory_set(directory: Directory) -> None:
    """Install the orders context's directory (its admin module does, when discovered)."""
    global _directory  # one directory per process, set once at start-up
    _directory = directory


def directory() -> Directory:
    return _directory


def as_uuid(value: Any) -> uuid.UUID | None:
    """Return ``value`` as a UUID, or None when it is not one (a payment's aggregate id is)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def pretty_json(value: Any):
    """Render stored JSON read-only, indented, as evidence is read: never a box to type into."""
    if value in (None, "", {}, []):
        return "—"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, cls=DjangoJSONEncoder)
    # wrapped, not scrolled: a long id stays readable at a phone's width
    return format_html(
        '<pre class="readonly-json" style="white-space: pre-wrap; overflow-wrap: anywhere; '
        'margin: 0">{}</pre>',
        text,
    )


def order_change_url(order_id: uuid.UUID) -> str:
    """The order's own admin page ("" when the orders admin is not installed)."""
    try:
        return reverse("admin:orders_order_change", args=[order_id])
    except NoReverseMatch:
        return ""


def changelist_url(model_label: str, **query: str) -> str:
    """The admin list of ``app_model`` (e.g. ``payments_payment``), filtered by ``query``.

    Reversed by name, so a context's admin links to another's without importing it; an
    empty string when that admin is not installed.
    """
    try:
        url = reverse(f"admin:{model_label}_changelist")
    except NoReverseMatch:
        return ""
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return url


class OrderFilter(admin.SimpleListFilter):
    """``?order=<uuid>``: the rows of one order, as the order's admin page links to them.

    Shown in the side bar only while it filters (naming the order), to be cleared from there.
    """

    title = "order"
    parameter_name = ORDER_PARAMETER

    def __init__(self, request, params, model, model_admin) -> None:
        self.order_fields = tuple(model_admin.order_fields)
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        # a filter without choices is dropped by the list, unapplied: while it filters, it
        # offers the one choice in use, so that a wrong id shows no rows rather than all
        if self.value() is None:
            return []
        order_id = as_uuid(self.value())
        ref = directory().orders([order_id]).get(order_id) if order_id else None
        return [(self.value(), ref.number if ref else f"no order {self.value()!r}")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        order_id = as_uuid(self.value())
        if order_id is None or not self.order_fields:
            return queryset.none()  # not an order's id: no order's rows
        return queryset.filter(_any_of(self.order_fields, [order_id]))


def _any_of(paths: Sequence[str], values: Iterable[Any]) -> Q:
    """Any of ``paths`` holds one of ``values`` (as text: JSON keys and char columns hold it so)."""
    texts = [str(value) for value in values]
    condition = Q()
    for path in paths:
        condition |= Q(**{f"{path}__in": texts})
    return condition


class FollowChangeList(ChangeList):
    """Resolve the page's orders and shops in one go, so the columns cost no query per row."""

    def get_results(self, request) -> None:
        super().get_results(request)
        self.model_admin.follow_resolve(list(self.result_list))


class FollowsOrder:
    """A ModelAdmin mixin for a support row that belongs to an order and a shop.

    Declare ``order_fields`` (paths holding the order's id: a column, a JSON key such as
    ``payload__data__order_id``, or through a relation) and ``shop_fields`` (paths holding
    the shop's id); add ``"order_link"`` and ``"shop_name"`` where the row should name them.
    ``row_order_id`` and ``row_shop_id`` read them from a row already fetched (override
    when a path goes through a relation or JSON).
    """

    order_fields: Sequence[str] = ()
    shop_fields: Sequence[str] = ()

    def get_list_filter(self, request):
        return [*super().get_list_filter(request), OrderFilter]

    def get_changelist(self, request, **kwargs):
        return FollowChangeList

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return found, may_have_duplicates
        matches = directory().matching(term)
        condition = Q()
        if matches.order_ids and self.order_fields:
            condition |= _any_of(self.order_fields, matches.order_ids)
        if matches.shop_ids and self.shop_fields:
            condition |= _any_of(self.shop_fields, matches.shop_ids)
        if not condition:
            return found, may_have_duplicates
        return found | queryset.filter(condition), may_have_duplicates

    # --- the columns ---
    def row_order_id(self, obj: Model) -> uuid.UUID | None:
        for path in self.order_fields:
            order_id = as_uuid(_value_at(obj, path))
            if order_id is not None:
                return order_id
        return None

    def row_shop_id(self, obj: Model) -> int | None:
        if not self.shop_fields:
            return None
        value = _value_at(obj, self.shop_fields[0])
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    def follow_resolve(self, rows: list[Model]) -> None:
        """Name every row's order and shop: two queries at most, for any number of rows."""
        order_ids = {self.row_order_id(row) for row in rows} - {None}
        orders = directory().orders(order_ids) if order_ids else {}
        shop_ids = {self.row_shop_id(row) for row in rows} - {None}
        shop_ids -= {ref.shop_id for ref in orders.values()}
        shops = directory().shops(shop_ids) if shop_ids else {}
        shops.update({ref.shop_id: ref.shop_name for ref in orders.values()})
        for row in rows:
            row._follow_order = orders.get(self.row_order_id(row))
            row._follow_shop = shops.get(self.row_shop_id(row))

    def _followed(self, obj: Model) -> None:
        if not hasattr(obj, "_follow_order"):
            self.follow_resolve([obj])  # a change page: one row

    @admin.display(description="order")
    def order_link(self, obj: Model):
        self._followed(obj)
        ref: OrderRef | None = obj._follow_order
        if ref is None:
            order_id = self.row_order_id(obj)
            return str(order_id) if order_id else "—"
        url = order_change_url(ref.order_id)
        return format_html('<a href="{}">{}</a>', url, ref.number) if url else ref.number

    @admin.display(description="shop")
    def shop_name(self, obj: Model) -> str:
        self._followed(obj)
        shop_id = self.row_shop_id(obj)
        return obj._follow_shop or (f"shop {shop_id}" if shop_id is not None else "—")


def _value_at(obj: Model, path: str) -> Any:
    """Follow ``a__b__c`` through attributes and dict keys of an already fetched row."""
    value: Any = obj
    for part in path.split("__"):
        if value is None:
            return None
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
    return value
