from django.urls import path

from . import events

urlpatterns = [
    path("event-types", events.EventTypeListApi.as_view(), name="event-types"),
    path(
        "event-types/<str:event_type>",
        events.EventTypeDetailApi.as_view(),
        name="event-type-detail",
    ),
    path("events", events.EventFeedApi.as_view(), name="events"),
]
