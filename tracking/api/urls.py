"""The shops' API of the tracking context (tracking history, carrier events)."""

urlpatterns: list = []
