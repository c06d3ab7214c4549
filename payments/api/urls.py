from django.urls import path

from . import views

urlpatterns = [
    path(
        "orders/<str:order_id>/invoice",
        views.OrderInvoiceDetailApi.as_view(),
        name="order-invoice",
    ),
    path(
        "orders/<str:order_id>/refunds",
        views.OrderRefundListApi.as_view(),
        name="order-refunds",
    ),
]
