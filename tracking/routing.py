"""WebSocket routes, mounted under ``/ws/`` by ``orderflow.asgi``."""

from django.urls import path, re_path

from . import consumers

websocket_urlpatterns = [
    path("ws/board/", consumers.BoardConsumer.as_asgi()),
    path("ws/board/<int:shop_id>/", consumers.BoardConsumer.as_asgi()),
    path("ws/orders/<uuid:order_id>/", consumers.OrderTimelineConsumer.as_asgi()),
    path("ws/track/<str:token>/", consumers.PublicTrackingConsumer.as_asgi()),
    # any other path: a refused handshake (4404), not the router's error
    re_path(r"", consumers.NotFoundConsumer.as_asgi()),
]
