"""A shop's accounts with carriers (through karrio), and each polled parcel's state.

An account's credentials are stored encrypted (``orders.carrier_credentials``) and never read
back to anyone: the API and the admin say which fields are set, not what they are.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CarrierAccount(models.Model):
    shop = models.ForeignKey("Shop", on_delete=models.CASCADE, related_name="carrier_accounts")
    #: a karrio extension's name (``orders.karrio_tracking.SUPPORTED_CARRIERS``): ``ups``…
    carrier = models.CharField(_("carrier"), max_length=50)
    #: the Fernet token of the credentials' JSON; never shown
    credentials_encrypted = models.TextField(editable=False)
    #: the names of the credential fields that are set, shown instead of their values
    credential_fields = models.JSONField(default=list, editable=False)
    active = models.BooleanField(_("active"), default=True)
    test_mode = models.BooleanField(
        _("test mode"),
        default=False,
        help_text=_("Ask the carrier's test (sandbox) servers instead of its live ones."),
    )
    last_polled_at = models.DateTimeField(_("last polled at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    #: failures in a row: the account's next poll waits longer after each
    failures = models.PositiveIntegerField(default=0, editable=False)
    next_poll_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shop", "carrier"]
        verbose_name = _("carrier account")
        verbose_name_plural = _("carrier accounts")
        constraints = [
            models.UniqueConstraint(fields=["shop", "carrier"], name="carrieraccount_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.shop} · {self.carrier}"


class ParcelPoll(models.Model):
    """What polling knows of one parcel of an account: when to ask next, the ETA, the end.

    Keyed by the account and the tracking number, like a carrier's report: the parcel is
    found by them when a poll's answer is applied.
    """

    account = models.ForeignKey(CarrierAccount, on_delete=models.CASCADE, related_name="polls")
    tracking_number = models.CharField(max_length=64)
    next_poll_at = models.DateTimeField(db_index=True)
    #: answers in a row that said nothing new: the wait before the next one grows with them
    unchanged_polls = models.PositiveIntegerField(default=0)
    #: the digest of the carrier's last answer (``karrio_tracking.ParcelAnswer.digest``)
    last_digest = models.CharField(max_length=64, blank=True)
    carrier_status = models.CharField(max_length=30, blank=True)
    #: the carrier's estimated delivery date
    eta = models.DateField(null=True, blank=True)
    tracking_link = models.URLField(max_length=300, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    #: delivered or returned: never asked again
    final = models.BooleanField(default=False)

    class Meta:
        ordering = ["account", "tracking_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "tracking_number"], name="parcelpoll_unique_account_number"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account.carrier} {self.tracking_number}"
