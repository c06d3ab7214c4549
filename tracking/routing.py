"""WebSocket routes, mounted under ``/ws/`` by ``orderflow.asgi``.

The public socket needs no login: ``orderflow.asgi`` routes it before the session and auth
middleware, which every staff socket goes through (a cookie parsed, a session and a user
resolved on a worker thread: a tenth of a public socket's opening, for nothing).
"""

from django.urls import path, re_path

from . import consumers

public_websocket_urlpatterns = [
    path("ws/track/<str:token>/", consumers.PublicTrackingConsumer.as_asgi()),
]

staff_websocket_urlpatterns = [
    path("ws/board/", consumers.BoardConsumer.as_asgi()),
    path("ws/board/<int:shop_id>/", consumers.BoardConsumer.as_asgi()),
    path("ws/orders/<uuid:order_id>/", consumers.OrderTimelineConsumer.as_asgi()),
    # any other path: a refused handshake (4404), not the router's error
    re_path(r"", consumers.NotFoundConsumer.as_asgi()),
]
