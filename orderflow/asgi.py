"""ASGI entry point: HTTP and WebSocket in one application.

Embedded mode serves everything from this one process; in full mode HTTP goes through
WSGI and only ``/ws/`` reaches an ASGI process. HTTP is wrapped in
:class:`~orderflow.body_limit.RequestBodyLimit`: an oversized body is refused with 413
before Django's handler reads it (and under daphne, before the server reads it:
:mod:`orderflow.daphne_body_limit`).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")

# Django must be set up before anything imports models (consumers do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from orderflow import daphne_body_limit  # noqa: E402
from orderflow.body_limit import RequestBodyLimit  # noqa: E402
from tracking.routing import (  # noqa: E402  (project wiring)
    public_websocket_urlpatterns,
    staff_websocket_urlpatterns,
)

# When daphne serves this application, it refuses an oversized body before reading it too.
daphne_body_limit.install()

application = ProtocolTypeRouter(
    {
        "http": RequestBodyLimit(django_asgi_app),
        # every socket's Origin is checked; only staff sockets need the login
        "websocket": AllowedHostsOriginValidator(
            URLRouter(
                [
                    *public_websocket_urlpatterns,
                    re_path(r"", AuthMiddlewareStack(URLRouter(staff_websocket_urlpatterns))),
                ]
            )
        ),
    }
)
