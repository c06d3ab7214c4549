"""System checks: refuse to start on carrier credential keys Fernet cannot use.

A malformed ``CARRIER_CREDENTIALS_KEY`` would otherwise pass every start-up and fail only
when an account is saved or polled; ``manage.py check``, ``migrate`` and every deploy stop on
it instead, naming the setting.
"""

from collections.abc import Iterable

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, register

KEY_HINT = (
    "A Fernet key is 32 url-safe base64-encoded bytes: python -c 'from cryptography.fernet "
    "import Fernet; print(Fernet.generate_key().decode())'. Leave CARRIER_CREDENTIALS_KEY "
    "unset to derive one from SECRET_KEY."
)


@register()
def check_carrier_credential_keys(app_configs=None, **kwargs) -> list[Error]:
    return carrier_key_errors(
        key=settings.CARRIER_CREDENTIALS_KEY, old_keys=settings.CARRIER_CREDENTIALS_OLD_KEYS
    )


def carrier_key_errors(*, key: str, old_keys: Iterable[str]) -> list[Error]:
    named = ([("CARRIER_CREDENTIALS_KEY", key)] if key else []) + [
        (f"CARRIER_CREDENTIALS_OLD_KEYS[{index}]", old) for index, old in enumerate(old_keys)
    ]
    errors = []
    for name, value in named:
        try:
            Fernet(value)
        except (ValueError, TypeError):
            errors.append(Error(f"{name} is not a Fernet key.", hint=KEY_HINT, id="orders.E001"))
    return errors
