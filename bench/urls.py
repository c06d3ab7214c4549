"""The bench's URLs: the app's own, plus the naive baseline (``bench/naive.py``)."""

from django.urls import include, path

from .naive import NaiveOrderViewSet

urlpatterns = [
    path("bench/naive/orders", NaiveOrderViewSet.as_view({"post": "create"}), name="bench-naive"),
    path("", include("orderflow.urls")),
]

handler404 = "orderflow.views.not_found"
handler500 = "orderflow.views.server_failure"
