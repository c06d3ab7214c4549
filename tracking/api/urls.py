"""The shops' API of the tracking context (an order's tracking history)."""

from django.urls import path

from . import views

urlpatterns = [
    path(
        "orders/<uuid:order_id>/tracking", views.OrderTrackingApi.as_view(), name="order-tracking"
    ),
]
