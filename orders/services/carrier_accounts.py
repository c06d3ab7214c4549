"""A shop's carrier accounts: the carriers OrderFlow polls for the shop's parcels (karrio).

An active account binds the shop to its carrier (:func:`shop_carrier_bind`), as support's
binding does: the shop may ship with it, and the carrier's reports, polled or pushed, apply
to the shop's parcels. Deactivating or deleting an account stops the polling only: the
binding stays, so the parcels on the road keep taking the carrier's pushed reports (support
removes a binding in the admin).
"""

from django.db import IntegrityError, transaction

from orderflow.errors import FieldError

from ..carrier_credentials import credentials_encrypt, credentials_rotate
from ..exceptions import CarrierAccountInputError, CarrierAccountTaken
from ..karrio_tracking import SUPPORTED_CARRIERS, credential_fields
from ..models import Shop
from ..models.carrier_accounts import CarrierAccount
from .carriers import shop_carrier_bind

MAX_CREDENTIAL_LENGTH = 2000


def carrier_credentials_check(*, carrier: str, credentials: dict) -> dict[str, str]:
    """Return the credentials ``carrier``'s connector takes, or refuse them naming its fields.

    Unknown fields, fields that are not strings and missing required ones are one 400,
    each error on its own field, with the carrier's field list in the detail.
    """
    if carrier not in SUPPORTED_CARRIERS:
        raise CarrierAccountInputError(
            f"OrderFlow has no connector for carrier {carrier!r}.",
            errors=[
                FieldError(
                    attr="carrier",
                    code="unknown_carrier",
                    detail=f"Use one of: {', '.join(SUPPORTED_CARRIERS)}.",
                )
            ],
        )
    fields = credential_fields(carrier)
    known = {item.name for item in fields}
    required = [item.name for item in fields if item.required]
    errors = [
        FieldError(
            attr=f"credentials.{name}",
            code="unknown_field",
            detail=f"{carrier} takes no credential {name!r}.",
        )
        for name in credentials
        if name not in known
    ]
    errors += [
        FieldError(
            attr=f"credentials.{name}",
            code="invalid",
            detail=f"Send a string of 1 to {MAX_CREDENTIAL_LENGTH} characters.",
        )
        for name, value in credentials.items()
        if name in known
        and (not isinstance(value, str) or not value.strip() or len(value) > MAX_CREDENTIAL_LENGTH)
    ]
    errors += [
        FieldError(
            attr=f"credentials.{name}", code="required", detail=f"{carrier} requires {name}."
        )
        for name in required
        if name not in credentials
    ]
    if errors:
        optional = [item.name for item in fields if not item.required]
        raise CarrierAccountInputError(
            f"{carrier} takes the credentials {', '.join(required)} (required)"
            + (f" and {', '.join(optional)} (optional)." if optional else "."),
            errors=errors,
            extra={"required_credentials": required, "optional_credentials": optional},
        )
    return {name: value.strip() for name, value in credentials.items()}


@transaction.atomic
def carrier_account_create(
    *, shop: Shop, carrier: str, credentials: dict, active: bool = True, test_mode: bool = False
) -> CarrierAccount:
    checked = carrier_credentials_check(carrier=carrier, credentials=credentials)
    account = CarrierAccount(
        shop=shop,
        carrier=carrier,
        credentials_encrypted=credentials_encrypt(checked),
        credential_fields=sorted(checked),
        active=active,
        test_mode=test_mode,
    )
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        raise CarrierAccountTaken(
            f"The shop already has a {carrier} account: change it (PATCH) instead."
        ) from None
    if active:
        shop_carrier_bind(shop=shop, carrier=carrier)
    return account


@transaction.atomic
def carrier_account_update(
    *,
    account: CarrierAccount,
    credentials: dict | None = None,
    active: bool | None = None,
    test_mode: bool | None = None,
) -> CarrierAccount:
    """Change an account; new credentials replace the old ones whole and poll at once."""
    account = CarrierAccount.objects.select_for_update().get(pk=account.pk)
    if credentials is not None:
        checked = carrier_credentials_check(carrier=account.carrier, credentials=credentials)
        account.credentials_encrypted = credentials_encrypt(checked)
        account.credential_fields = sorted(checked)
        # the old credentials' error and backoff say nothing of the new ones
        account.last_error = ""
        account.failures = 0
        account.next_poll_at = None
    else:
        # saving an account moves its credentials to the current key (a key rotation)
        account.credentials_encrypted = credentials_rotate(account.credentials_encrypted)
    if active is not None:
        account.active = active
    if test_mode is not None:
        account.test_mode = test_mode
    account.save()
    if account.active:
        shop_carrier_bind(shop=account.shop, carrier=account.carrier)
    return account


@transaction.atomic
def carrier_account_delete(*, account: CarrierAccount) -> None:
    account.delete()
