"""A URL path reversed once per script prefix, for paths written once per row or answer.

``reverse`` walks the URLconf on every call (≈ 40 µs): a new order's answer names its
tracking page and a board push names each order's staff page. A pattern with one argument
that it writes as given — a uuid, a URL-safe token — is the same path around any value,
so it is reversed once per script prefix with a sample and the value put in its place.
"""

import uuid

from django.urls import get_script_prefix, reverse

#: the characters a ``str`` or ``uuid`` converter writes as they are (``token_urlsafe``'s)
URLSAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
#: a sample every such converter takes and no literal part of a path holds
_SAMPLE = str(uuid.UUID(int=0))
#: (script prefix, URL name) -> the path before and after the argument
_around: dict[tuple[str, str], tuple[str, str]] = {}


def path_with(name: str, value) -> str:
    """``reverse(name, args=[value])``, from the path reversed once per script prefix.

    A value with other characters than :data:`URLSAFE` (one the converter would quote, or
    refuse: an empty one) is reversed whole, as ``reverse`` answers it.
    """
    text = str(value)
    if not text or not URLSAFE.issuperset(text):
        return reverse(name, args=[value])
    key = (get_script_prefix(), name)
    around = _around.get(key)
    if around is None:
        before, _, after = reverse(name, args=[_SAMPLE]).rpartition(_SAMPLE)
        around = _around[key] = (before, after)
    return f"{around[0]}{text}{around[1]}"
