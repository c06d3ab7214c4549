"""A staff socket serves only as long as the login it was opened with.

A socket is opened once and may stay for days, while the session behind it can end: a
logout, an expiry, a password change, a role taken away. Each staff socket joins a group
named after its session; a logout sends that group a message that closes its sockets at
once, and the sockets check the session again on every message they receive and every
heartbeat, which also catches a lost logout message and the endings without a signal.
"""

import hashlib
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth

from . import push

#: the message a session's sockets receive when it ends (a consumer's ``staff_session_ended``)
SESSION_ENDED = "staff.session_ended"


def session_group(session_key: str) -> str:
    """Name the group of one session's sockets, without putting the session key in Redis."""
    return "staff.session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


#: what ``session_standing`` tells of a socket's login
ALLOWED = "allowed"
ENDED = "ended"  # logged out, expired, the password changed, or the user deactivated
FORBIDDEN = "forbidden"  # still logged in, but no longer staff with the permission


def session_standing(*, session_key: str, user_id, permission: str) -> str:
    """Tell whether the session still logs in ``user_id`` (active) with ``permission``.

    The session is read afresh from its store and verified the way Django verifies a
    request's (a changed password invalidates it), and the user and its permissions are
    read afresh from the database. A login that ended and a login without the role are
    told apart, so that a page can say which: log in again, or ask for the role.
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(SimpleNamespace(session=store))
    if not (user.is_authenticated and user.pk == user_id and user.is_active):
        return ENDED
    return ALLOWED if user.is_staff and user.has_perm(permission) else FORBIDDEN


def close_sockets_on_logout(sender, request, user, **kwargs) -> None:
    """Close the sockets opened with the session being logged out (``user_logged_out``)."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        # a lost message is caught by the sockets' own check at their next heartbeat
        push.send([(session_group(session_key), {"type": SESSION_ENDED})])
