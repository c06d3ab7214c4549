"""Output shapes of the tracking API (documentation for the schema; views render dicts)."""

from rest_framework import serializers

from ..choices import Milestone, TrackingSource


class TrackingHistoryEntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Milestone.choices)
    label = serializers.CharField()
    aggregate = serializers.CharField(help_text="order, payment or invoice: whose event it was.")
    sequence = serializers.IntegerField(help_text="The event's sequence in its aggregate.")
    occurred_at = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=TrackingSource.choices)
    note = serializers.CharField()
    location = serializers.CharField()
    shipment_id = serializers.UUIDField(
        allow_null=True,
        help_text="The parcel (`shipments[].id` of the order) a shipment step is about; null "
        "for any other step, and for steps recorded before parcels had ids.",
    )
    tracking_number = serializers.CharField(
        help_text="That parcel's tracking number; empty for any other step."
    )


class OrderTrackingOutputSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="The order's current status.")
    status_label = serializers.CharField()
    sequence = serializers.IntegerField(help_text="The order event the status comes from.")
    updated_at = serializers.DateTimeField()
    next_step = serializers.CharField(help_text="What happens next; empty once final.")
    history = TrackingHistoryEntryOutputSerializer(many=True)
