"""Staff actions on orders (the order page itself is the tracking context's)."""

from django.urls import path

from . import views

app_name = "orders"

urlpatterns = [
    path("new", views.order_create, name="create"),
    path("bulk-ship", views.orders_bulk_ship, name="bulk-ship"),
    path("select-ship", views.orders_select_ship, name="select-ship"),
    path("<uuid:order_id>/ship", views.order_ship, name="ship"),
    path("<uuid:order_id>/out-for-delivery", views.order_out_for_delivery, name="out-for-delivery"),
    path("<uuid:order_id>/deliver", views.order_deliver, name="deliver"),
    path("<uuid:order_id>/cancel", views.order_cancel, name="cancel"),
    path(
        "<uuid:order_id>/cancel-remainder",
        views.order_cancel_remainder,
        name="cancel-remainder",
    ),
    path("<uuid:order_id>/address", views.order_change_address, name="change-address"),
    path(
        "<uuid:order_id>/parcels/<uuid:shipment_id>/issue-resolved",
        views.order_parcel_issue_resolve,
        name="parcel-issue-resolve",
    ),
    path("<uuid:order_id>/returns/new", views.order_return_create, name="return-create"),
    path(
        "<uuid:order_id>/returns/<uuid:return_id>/<str:step>",
        views.order_return_step,
        name="return-step",
    ),
]
