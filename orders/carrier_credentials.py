"""Carrier credentials encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256).

The key is ``CARRIER_CREDENTIALS_KEY`` (a Fernet key: 32 url-safe base64-encoded bytes) or,
unset, derived from ``SECRET_KEY``; rotating SECRET_KEY without setting the key first makes
stored credentials unreadable (each account then reports it and must be given its
credentials again). ``CARRIER_CREDENTIALS_OLD_KEYS`` lists keys still accepted for reading
while accounts are re-saved under a new one (MultiFernet).
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialsUnreadable(Exception):
    """The stored credentials do not decrypt with any configured key."""


def _fernet() -> MultiFernet:
    keys = [settings.CARRIER_CREDENTIALS_KEY or _derived_key(settings.SECRET_KEY)]
    keys += list(settings.CARRIER_CREDENTIALS_OLD_KEYS)
    return MultiFernet([Fernet(key) for key in keys])


def _derived_key(secret: str) -> bytes:
    digest = hashlib.sha256(b"orderflow.carrier-credentials:" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def credentials_encrypt(credentials: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()


def credentials_decrypt(token: str) -> dict[str, str]:
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsUnreadable(
            "The stored credentials cannot be decrypted with CARRIER_CREDENTIALS_KEY; "
            "enter them again."
        ) from None


def credentials_rotate(token: str) -> str:
    """Return ``token`` encrypted again with the current key (unreadable: as it was)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        return token
