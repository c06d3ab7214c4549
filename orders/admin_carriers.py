"""Support's page for a shop's carrier accounts (karrio polling).

Imported at the end of ``orders/admin.py``. The credentials are password inputs that never
show a stored value: on a change, the ones left empty are kept, and any typed replace them
all (the carrier's connector checks them, as the API does). The page shows which
credentials are set, the last poll and error, and the parcels polled with their ETA.
"""

from django import forms
from django.contrib import admin
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from .carrier_credentials import CredentialsUnreadable, credentials_decrypt
from .exceptions import CarrierAccountInputError
from .karrio_tracking import SUPPORTED_CARRIERS, credential_fields
from .models.carrier_accounts import CarrierAccount, ParcelPoll
from .services.carrier_accounts import (
    carrier_account_create,
    carrier_account_update,
    carrier_credentials_check,
)


def _all_credential_fields() -> dict[str, list]:
    """Each credential name of the installed connectors, with the carriers that take it."""
    names: dict[str, list] = {}
    for carrier in SUPPORTED_CARRIERS:
        for item in credential_fields(carrier):
            need = _("required") if item.required else _("optional")
            names.setdefault(item.name, []).append(format_lazy("{} ({})", carrier, need))
    return names


CREDENTIAL_FIELDS = _all_credential_fields()
FORM_PREFIX = "credential_"


class CarrierAccountAdminForm(forms.ModelForm):
    carrier = forms.ChoiceField(choices=[(name, name) for name in SUPPORTED_CARRIERS])

    class Meta:
        model = CarrierAccount
        fields = ["shop", "carrier", "active", "test_mode"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["shop"].disabled = True
            self.fields["carrier"].disabled = True

    def clean(self):
        cleaned = super().clean()
        carrier = cleaned.get("carrier")
        typed = {
            name: cleaned[FORM_PREFIX + name]
            for name in CREDENTIAL_FIELDS
            if cleaned.get(FORM_PREFIX + name)
        }
        self.credentials = None
        if carrier is None or (self.instance.pk and not typed):
            return cleaned  # on a change, nothing typed keeps the stored credentials
        try:
            self.credentials = carrier_credentials_check(carrier=carrier, credentials=typed)
        except CarrierAccountInputError as error:
            for field_error in error.errors:
                name = FORM_PREFIX + field_error.attr.removeprefix("credentials.")
                self.add_error(name if name in self.fields else None, field_error.detail)
            self.add_error(None, error.detail)
        return cleaned


# one password input per credential any connector takes (declared on the class, so that the
# admin's fieldsets may name them); never rendered with a value
for _name, _carriers in CREDENTIAL_FIELDS.items():
    CarrierAccountAdminForm.base_fields[
        FORM_PREFIX + _name
    ] = CarrierAccountAdminForm.declared_fields[FORM_PREFIX + _name] = forms.CharField(
        label=_name,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=format_lazy(", ".join("{}" for _carrier in _carriers), *_carriers),
    )


class ParcelPollInline(admin.TabularInline):
    model = ParcelPoll
    extra = 0
    can_delete = False
    fields = [
        "tracking_number",
        "carrier_status",
        "eta",
        "last_polled_at",
        "next_poll_at",
        "unchanged_polls",
        "final",
        "last_error",
    ]
    readonly_fields = fields
    ordering = ["-last_polled_at"]
    verbose_name = _("polled parcel")
    verbose_name_plural = _("polled parcels")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CarrierAccount)
class CarrierAccountAdmin(admin.ModelAdmin):
    form = CarrierAccountAdminForm
    list_display = ["shop", "carrier", "active", "test_mode", "last_polled_at", "last_error"]
    list_filter = ["carrier", "active", "test_mode"]
    list_select_related = ["shop"]
    search_fields = ["shop__name", "shop__slug", "carrier"]
    autocomplete_fields = ["shop"]
    readonly_fields = [
        "credentials_set",
        "last_polled_at",
        "last_error",
        "last_error_at",
        "failures",
        "next_poll_at",
    ]
    inlines = [ParcelPollInline]

    def get_fieldsets(self, request, obj=None):
        credentials = [FORM_PREFIX + name for name in CREDENTIAL_FIELDS]
        return [
            (None, {"fields": ["shop", "carrier", "active", "test_mode"]}),
            (
                _("Credentials"),
                {
                    "fields": (["credentials_set"] if obj else []) + credentials,
                    "description": _(
                        "Stored encrypted and never shown. Type the ones the carrier takes; "
                        "on a change, leave them all empty to keep the stored ones."
                    ),
                },
            ),
            (
                _("Polling"),
                {
                    "fields": [
                        "last_polled_at",
                        "last_error",
                        "last_error_at",
                        "failures",
                        "next_poll_at",
                    ]
                },
            ),
        ]

    @admin.display(description=_("credentials set"))
    def credentials_set(self, obj: CarrierAccount) -> str:
        if not obj.credentials_encrypted:
            return "-"
        try:
            credentials_decrypt(obj.credentials_encrypted)
        except CredentialsUnreadable:
            return _("unreadable with the current key: enter them again")
        return ", ".join(obj.credential_fields) or "-"

    def save_model(self, request, obj, form, change):
        if change:
            updated = carrier_account_update(
                account=obj,
                credentials=form.credentials,
                active=form.cleaned_data["active"],
                test_mode=form.cleaned_data["test_mode"],
            )
        else:
            updated = carrier_account_create(
                shop=form.cleaned_data["shop"],
                carrier=form.cleaned_data["carrier"],
                credentials=form.credentials,
                active=form.cleaned_data["active"],
                test_mode=form.cleaned_data["test_mode"],
            )
        obj.pk = updated.pk
        obj.refresh_from_db()
