"""The client's address, as far as the configured proxies can vouch for it.

``REMOTE_ADDR`` is the peer of the connection: the client itself when nothing stands in
front, a proxy's address otherwise. Each trusted reverse proxy (``TRUSTED_PROXY_COUNT``,
0 by default) appends the address it saw to ``X-Forwarded-For``, so the client is the
entry that many places from the right; anything left of it was written by the client and
proves nothing. Login throttling counts failures per (username, this address), and stores
it in an address column: an entry that is no address falls back to ``REMOTE_ADDR``.
"""

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    """Return the address of the client that sent ``request``."""
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(addresses) >= hops and _is_address(addresses[-hops]):
            return addresses[-hops]
    return request.META.get("REMOTE_ADDR", "")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
