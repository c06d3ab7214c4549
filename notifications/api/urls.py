"""The shops' API of the notifications context (webhook endpoints)."""

urlpatterns: list = []
