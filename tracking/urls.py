"""Staff pages and the public tracking page."""

app_name = "tracking"

urlpatterns: list = []
