from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView, TemplateView
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from . import health, views
from .api import docs
from .api.schema import CachedSpectacularAPIView
from .observability.metrics.exposition import metrics_view

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include("orderflow.api.urls")),
    path("api/v1/", include("orders.api.urls")),
    path("api/v1/", include("payments.api.urls")),
    path("api/v1/", include("tracking.api.urls")),
    path("api/v1/", include("notifications.api.urls")),
    path("staff/payments/", include("payments.urls")),
    path("staff/orders/", include("orders.urls")),
    path("staff/orders/", include("notifications.staff_urls")),
    path("staff/failed-events", views.failed_events, name="failed-events"),
    path("staff/failed-events.csv", views.failed_events_export, name="failed-events-export"),
    # the page's first name read as failed parcel deliveries; bookmarks still arrive
    path(
        "staff/failed-deliveries",
        RedirectView.as_view(pattern_name="failed-events", permanent=True, query_string=True),
    ),
    path("", include("tracking.urls")),
    path("", include("notifications.urls")),
    path("api/schema/", CachedSpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/redoc/redoc.standalone.js", docs.redoc_bundle, name="api-redoc-bundle"),
    path("api/problems/<slug:slug>", views.problem_type_detail, name="problem-type"),
    # the staff header's language switch (set_language; see orderflow/staff_language.py)
    path("i18n/", include("django.conf.urls.i18n")),
]

handler404 = "orderflow.views.not_found"
handler500 = "orderflow.views.server_failure"
