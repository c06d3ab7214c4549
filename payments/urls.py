from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("invoices/<uuid:invoice_id>", views.invoice_print, name="invoice-print"),
    path("orders/<uuid:order_id>/refund", views.order_refund, name="order-refund"),
]
