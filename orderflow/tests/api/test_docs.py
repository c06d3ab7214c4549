"""ReDoc's bundle, served by the app without the address of Redocly's CDN logo."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_redoc_page_loads_the_bundle_from_the_app():
    html = Client().get("/api/redoc/").content.decode()

    assert '<script src="/api/redoc/redoc.standalone.js"></script>' in html


def test_the_bundle_is_redoc_without_any_other_origin_for_its_logo():
    response = Client().get("/api/redoc/redoc.standalone.js")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=3600"
    assert b"cdn.redoc.ly" not in response.content
    # the footer's image is still drawn, from an inline empty SVG
    assert b'src:"data:image/svg+xml,%3Csvg xmlns=' in response.content
