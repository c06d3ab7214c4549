"""Notifications became a projector: it starts where its subscribers' deliveries stood.

The relay no longer creates deliveries for notifications. Unlike tracking, the
``notifications`` projector must NOT replay the retained feed from position 0: an event
older than an endpoint would be sent to it, and every retained ``invoice.issued`` would
queue a confirmation e-mail (the confirmation used to be keyed by ``order.confirmed``).
So its checkpoint is created just before the first event that still had an open
notifications delivery (or at the feed's end when none had), and those deliveries are
closed: the projector applies their events instead. Dead letters stay as they are.
"""

from django.db import migrations
from django.db.models import Max, Min

OPEN = ["pending", "running"]
PROJECTOR = "notifications"


def start_projector_where_deliveries_stood(apps, schema_editor):
    Delivery = apps.get_model("orderflow", "Delivery")
    OutboxEvent = apps.get_model("orderflow", "OutboxEvent")
    ProjectorCheckpoint = apps.get_model("orderflow", "ProjectorCheckpoint")
    open_deliveries = Delivery.objects.filter(
        subscriber__startswith="notifications.", status__in=OPEN
    )
    first_open = OutboxEvent.objects.filter(
        event_id__in=open_deliveries.values("event_id"), position__isnull=False
    ).aggregate(first=Min("position"))["first"]
    if first_open is not None:
        start = first_open - 1
    else:
        start = OutboxEvent.objects.aggregate(last=Max("position"))["last"] or 0
    ProjectorCheckpoint.objects.get_or_create(name=PROJECTOR, defaults={"position": start})
    open_deliveries.update(status="done")


class Migration(migrations.Migration):
    dependencies = [
        ("orderflow", "0005_projector_checkpoints_parked_events"),
        ("notifications", "0002_outgoing_trace_context"),
    ]

    operations = [
        migrations.RunPython(start_projector_where_deliveries_stood, migrations.RunPython.noop),
    ]
