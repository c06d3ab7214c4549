from django.db import models


class SendStatus(models.TextChoices):
    """Where an outgoing message (an e-mail or a webhook delivery) stands."""

    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    #: webhook deliveries only: the endpoint was inactive; a replay sends it later
    SKIPPED = "skipped", "Skipped (endpoint inactive)"


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"


class AttemptOutcome(models.TextChoices):
    SENT = "sent", "Delivered"
    RETRY = "retry", "Failed, will retry"
    FAILED = "failed", "Failed for good"
