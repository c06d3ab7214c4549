"""Staff pages and the public tracking page."""

from django.urls import path

from . import views

app_name = "tracking"

urlpatterns = [
    path("staff/", views.board, name="board"),
    path("staff/orders.csv", views.board_export, name="board-export"),
    path("staff/orders/<uuid:order_id>", views.order_page, name="order"),
    path("staff/orders/<uuid:order_id>/blocks", views.order_page_blocks, name="order-blocks"),
    path("staff/orders/<uuid:order_id>/notes", views.order_note_create, name="order-note"),
    path("track/<str:token>", views.public_tracking, name="public"),
]
