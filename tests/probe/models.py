from django.db import models


class ProbeEffect(models.Model):
    """One handler effect; tests count these to prove "exactly once"."""

    event_id = models.UUIDField()
    subscriber = models.CharField(max_length=100)
    probe_id = models.UUIDField()
    sequence = models.PositiveIntegerField()
    attempt = models.PositiveSmallIntegerField()
    correlation_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.subscriber} handled {self.event_id}"


class ProbeSwitch(models.Model):
    """A named flag a test flips to "fix" a broken handler before replaying."""

    name = models.CharField(max_length=50, unique=True)
    on = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.name}={'on' if self.on else 'off'}"
