from rest_framework import serializers

from orderflow.api.serializers import StrictInputSerializer

from ..models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class WebhookEndpointCreateInputSerializer(StrictInputSerializer):
    url = serializers.CharField(max_length=2000)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        allow_empty=True,
        help_text="Event types to receive; omitted or empty means all.",
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False, default=True)


class WebhookEndpointUpdateInputSerializer(StrictInputSerializer):
    url = serializers.CharField(max_length=2000, required=False)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, allow_empty=True
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    active = serializers.BooleanField(
        required=False, help_text="true enables a disabled endpoint again (clearing its failures)."
    )


class WebhookEndpointRotateSecretInputSerializer(StrictInputSerializer):
    keep_previous_for_hours = serializers.FloatField(
        required=False,
        min_value=0,
        max_value=168,
        help_text="How long deliveries are signed with the previous secret too "
        "(default WEBHOOK_SECRET_OVERLAP_HOURS); 0 retires it at once.",
    )


class WebhookReplaySinceInputSerializer(StrictInputSerializer):
    since = serializers.DateTimeField(help_text="Replay every delivery recorded since then.")


class WebhookEndpointOutputSerializer(serializers.ModelSerializer):
    disabled = serializers.SerializerMethodField(
        help_text="True when OrderFlow disabled the endpoint because it kept failing."
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "active",
            "disabled",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        ]

    def get_disabled(self, endpoint: WebhookEndpoint) -> bool:
        return not endpoint.active and endpoint.failing_since is not None


class WebhookEndpointWithSecretOutputSerializer(WebhookEndpointOutputSerializer):
    secret = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The signing secret: shown only now, on creation and rotation; null when "
        "the answer is an Idempotency-Key replay (the secret is not kept with it).",
    )

    class Meta(WebhookEndpointOutputSerializer.Meta):
        fields = [*WebhookEndpointOutputSerializer.Meta.fields, "secret"]


class WebhookDeliveryOutputSerializer(serializers.ModelSerializer):
    endpoint_id = serializers.UUIDField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint_id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "sent_at",
            "replayed_at",
        ]


class WebhookAttemptOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = [
            "number",
            "request_id",
            "url",
            "started_at",
            "duration_ms",
            "status_code",
            "response_body",
            "error",
            "outcome",
            "next_attempt_at",
        ]


class WebhookDeliveryDetailOutputSerializer(WebhookDeliveryOutputSerializer):
    log = WebhookAttemptOutputSerializer(many=True, help_text="Every attempt, oldest first.")

    class Meta(WebhookDeliveryOutputSerializer.Meta):
        fields = [*WebhookDeliveryOutputSerializer.Meta.fields, "payload", "log"]


class WebhookReplayOutputSerializer(serializers.Serializer):
    replayed = serializers.IntegerField()
