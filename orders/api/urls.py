from django.urls import path

from . import views

urlpatterns = [
    path("orders", views.OrderListCreateApi.as_view(), name="orders"),
    path("orders/<str:order_id>", views.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<str:order_id>/cancel", views.OrderCancelApi.as_view(), name="order-cancel"),
    path("products", views.ProductListCreateApi.as_view(), name="products"),
    path("products/<str:sku>", views.ProductDetailApi.as_view(), name="product-detail"),
]
