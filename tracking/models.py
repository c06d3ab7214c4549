"""Tracking history (PostgreSQL) and the board's row per order.

The order itself belongs to the orders context; tracking keeps what its pages and
sockets show, written only by its subscribers (and created from the orders interface
when a reader comes first), so the board reads one table.
"""

from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models.functions import Upper

from .choices import Milestone, TrackingSource


class PrefixSearchIndex(models.Index):
    """An ``OpClass`` expression index that SQLite can also build.

    PostgreSQL gets the index as declared (``UPPER(col) text_pattern_ops``). SQLite (the
    embedded mode) has no operator classes: it gets the same index without one, which it
    can create. Without this, SQLite rebuilding the table for any later migration
    recreated the index from the model state and failed (``near text_pattern_ops``), so a
    fresh ``make run`` stopped at migrate.
    """

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        plain = models.Index(
            *(
                expression.get_source_expressions()[0]
                if isinstance(expression, OpClass)
                else expression
                for expression in self.expressions
            ),
            name=self.name,
        )
        return plain.create_sql(model, schema_editor, using=using, **kwargs)


class TrackedOrder(models.Model):
    order_id = models.UUIDField(primary_key=True)
    shop_id = models.BigIntegerField()
    shop_name = models.CharField(max_length=120)
    number = models.CharField(max_length=20)
    #: as the order's events tell it ("" for a row recorded before the board searched names)
    customer_name = models.CharField(max_length=200, blank=True, default="")
    customer_email = models.EmailField()
    total = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    #: unique by ``tracked_unique_token``, not ``unique=True`` (which adds a LIKE index no
    #: lookup uses, paid on every one of the projector's updates)
    tracking_token = models.CharField(max_length=64)
    carrier = models.CharField(max_length=50, blank=True)
    tracking_number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=20)
    #: the sequence of the last order event applied; an event at or below it is stale
    sequence = models.PositiveIntegerField(default=0)
    placed_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # --- what the customer's page says (tracking/public_page.py), as the events tell it ----
    #: the customer's language, ``pt-BR`` or ``en`` ("" before orders carried one)
    customer_locale = models.CharField(max_length=5, blank=True, default="")
    #: where the customer writes with a question (the shop's contact e-mail)
    shop_email = models.EmailField(blank=True, default="")
    #: what was ordered: ``[{"sku", "name", "quantity"}]`` (no prices: the page shows none)
    items = models.JSONField(default=list, blank=True)
    #: why the order ended, for a rejected or cancelled order: ``{"cause": "stock" |
    #: "payment" | "shop", "reason", "short_items": [{"sku", "requested", "available"}],
    #: "charged": bool}`` ({} while it has not ended)
    outcome = models.JSONField(default=dict, blank=True)
    #: a problem the carrier reported since its last good news (``delivery_failed``), or ""
    delivery_issue = models.CharField(max_length=30, blank=True, default="")
    #: money given back to the customer, all refunds together, and when the last one was
    refunded_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    refunded_at = models.DateTimeField(null=True, blank=True)
    #: where the order's latest return stands (``orders`` ReturnStatus), "" without one;
    #: each return's own status is in ``returns``
    return_status = models.CharField(max_length=20, blank=True, default="", db_default="")
    #: the order's parcels, first shipped first: ``[{"id", "carrier", "tracking_number",
    #: "status", "lines": [{"sku", "name", "quantity"}], "eta"}]`` (``reactions.parcel_fact``);
    #: [] before the first, and for parcels shipped before events named them
    parcels = models.JSONField(default=list, blank=True, db_default=[])
    #: the order's returns, by number: ``[{"number", "status", "lines": [{"sku", "name",
    #: "quantity"}]}]`` (``reactions.merge_return``); [] before the first, and for returns
    #: told before events gave each its own facts
    returns = models.JSONField(default=list, blank=True, db_default=[])
    #: how many of them still need the shop (requested, approved, received): the returns
    #: queue's rows
    open_returns = models.PositiveSmallIntegerField(default=0, db_default=0)

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.UniqueConstraint(fields=["tracking_token"], name="tracked_unique_token"),
        ]
        indexes = [
            models.Index(fields=["-placed_at"], name="tracked_placed"),
            models.Index(fields=["shop_id", "-placed_at"], name="tracked_shop_placed"),
            models.Index(fields=["status", "-placed_at"], name="tracked_status_placed"),
            models.Index(fields=["number"], name="tracked_number"),
            models.Index(fields=["customer_email"], name="tracked_email"),
            # The board's search is a case-insensitive prefix match (``istartswith``, which
            # Django writes as ``UPPER(col::text) LIKE UPPER('q%')``) on each field it
            # searches. pg_trgm is not installed in this project, so substring search would
            # scan the whole table; a prefix matches the way staff type a number, an e-mail
            # or a name from a parcel label, and these expression indexes serve it.
            # ``text_pattern_ops``: a LIKE prefix can use the index under any collation.
            *(
                PrefixSearchIndex(
                    OpClass(Upper(field), name="text_pattern_ops"), name=f"tracked_search_{short}"
                )
                for field, short in (
                    ("number", "number"),
                    ("customer_name", "name"),
                    ("customer_email", "email"),
                    ("tracking_number", "parcel"),
                )
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.status})"


class TrackingEntry(models.Model):
    """One step of an order's history, made by one event."""

    #: no index of its own: ``tracking_entry_order`` leads with the order
    order = models.ForeignKey(
        TrackedOrder, on_delete=models.CASCADE, related_name="entries", db_index=False
    )
    shop_id = models.BigIntegerField()
    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=100)
    aggregate = models.CharField(max_length=50)
    #: the event's sequence in its aggregate (the order's, for order events)
    sequence = models.PositiveIntegerField()
    status = models.CharField(max_length=30, choices=Milestone.choices)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=TrackingSource.choices)
    #: who acted, as the event names them (``staff:ana``, ``shop-key:ab12cd34``,
    #: ``carrier:demo-post``, ``system``); "" when the event does not say
    actor = models.CharField(max_length=200, blank=True, default="")
    note = models.CharField(max_length=500, blank=True)
    location = models.CharField(max_length=200, blank=True)
    #: the parcel a shipment event's entry is about (its ``shipment_id``); None for any
    #: other entry, and for events stored before events named their parcel
    shipment_id = models.UUIDField(null=True, blank=True)
    #: that parcel's tracking number, as the event named it ("" for any other entry)
    tracking_number = models.CharField(max_length=64, blank=True, default="", db_default="")
    #: shown on the customer's public page (no money, no paperwork)
    public = models.BooleanField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name_plural = "tracking entries"
        indexes = [
            models.Index(fields=["order", "id"], name="tracking_entry_order"),
            models.Index(fields=["aggregate", "id"], name="tracking_entry_aggregate"),
            models.Index(fields=["shop_id", "aggregate", "id"], name="tracking_entry_shop"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.status} #{self.sequence}"


class OrderNote(models.Model):
    """A staff member's internal note on an order: shown on the staff order page only.

    Never an event: a note is no fact of the order, so it reaches no webhook, e-mail,
    public page or shop API; only the order's staff sockets are told of a new one.
    """

    order = models.ForeignKey(TrackedOrder, on_delete=models.CASCADE, related_name="notes")
    #: who wrote it, as actors are named (``staff:ana``); kept if the user is deleted
    author = models.CharField(max_length=200)
    body = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["order", "created_at"], name="order_note_order")]

    def __str__(self) -> str:
        return f"note by {self.author} on {self.order_id}"
