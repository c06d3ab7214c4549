"""WebSocket routes, mounted under ``/ws/`` by ``orderflow.asgi``.

The live board, order timeline and public tracking consumers arrive with the live
tracking issue; the ASGI router already sends every WebSocket here.
"""

websocket_urlpatterns: list = []
