"""The shops' API of the notifications context: webhook endpoints and their deliveries."""

from django.urls import path

from . import views

urlpatterns = [
    path(
        "webhook-endpoints",
        views.WebhookEndpointListCreateApi.as_view(),
        name="webhook-endpoints",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>",
        views.WebhookEndpointDetailApi.as_view(),
        name="webhook-endpoint-detail",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/rotate-secret",
        views.WebhookEndpointRotateSecretApi.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/test",
        views.WebhookEndpointTestApi.as_view(),
        name="webhook-endpoint-test",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/deliveries",
        views.WebhookDeliveryListApi.as_view(),
        name="webhook-endpoint-deliveries",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/replay",
        views.WebhookEndpointReplayApi.as_view(),
        name="webhook-endpoint-replay",
    ),
    path(
        "webhook-deliveries/<str:delivery_id>",
        views.WebhookDeliveryDetailApi.as_view(),
        name="webhook-delivery-detail",
    ),
    path(
        "webhook-deliveries/<str:delivery_id>/replay",
        views.WebhookDeliveryReplayApi.as_view(),
        name="webhook-delivery-replay",
    ),
]
