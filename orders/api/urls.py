from django.urls import path

from . import carrier_accounts, carriers, pricing_views, returns, shipment_views, views

urlpatterns = [
    path("orders", views.OrderListCreateApi.as_view(), name="orders"),
    path("orders/<str:order_id>", views.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<str:order_id>/cancel", views.OrderCancelApi.as_view(), name="order-cancel"),
    path(
        "orders/<str:order_id>/cancel-remainder",
        views.OrderCancelRemainderApi.as_view(),
        name="order-cancel-remainder",
    ),
    path("orders/<str:order_id>/ship", views.OrderShipApi.as_view(), name="order-ship"),
    path(
        "orders/<str:order_id>/shipments",
        shipment_views.OrderShipmentListCreateApi.as_view(),
        name="order-shipments",
    ),
    path(
        "orders/<str:order_id>/out-for-delivery",
        views.OrderOutForDeliveryApi.as_view(),
        name="order-out-for-delivery",
    ),
    path("orders/<str:order_id>/deliver", views.OrderDeliverApi.as_view(), name="order-deliver"),
    path(
        "orders/<str:order_id>/returns",
        returns.OrderReturnListCreateApi.as_view(),
        name="order-returns",
    ),
    path("carrier-events", carriers.CarrierEventCreateApi.as_view(), name="carrier-events"),
    path(
        "carrier-accounts",
        carrier_accounts.CarrierAccountListCreateApi.as_view(),
        name="carrier-accounts",
    ),
    path(
        "carrier-accounts/<str:carrier>",
        carrier_accounts.CarrierAccountDetailApi.as_view(),
        name="carrier-account-detail",
    ),
    path("products", views.ProductListCreateApi.as_view(), name="products"),
    path("products/<str:sku>", views.ProductDetailApi.as_view(), name="product-detail"),
    path("shop", pricing_views.ShopSettingsApi.as_view(), name="shop-settings"),
    path(
        "shipping-methods",
        pricing_views.ShippingMethodListCreateApi.as_view(),
        name="shipping-methods",
    ),
    path(
        "shipping-methods/<str:code>",
        pricing_views.ShippingMethodDetailApi.as_view(),
        name="shipping-method-detail",
    ),
    path("discounts", pricing_views.DiscountListCreateApi.as_view(), name="discounts"),
    path("discounts/<str:code>", pricing_views.DiscountDetailApi.as_view(), name="discount-detail"),
    path("tax-rates", pricing_views.TaxRateListCreateApi.as_view(), name="tax-rates"),
    path(
        "tax-rates/<int:rate_id>", pricing_views.TaxRateDetailApi.as_view(), name="tax-rate-detail"
    ),
]
