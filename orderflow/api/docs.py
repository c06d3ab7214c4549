"""ReDoc's bundle as the API docs page loads it: from the app, with no request elsewhere.

drf-spectacular-sidecar ships ReDoc's JavaScript, so the page needs no CDN for it, but the
bundle itself draws Redocly's logo in the menu's footer from ``cdn.redoc.ly``, whatever the
options (the ``img`` is rendered unconditionally). The bundle is served here with that
address replaced by an empty inline image: the footer keeps its "API docs by Redocly" link
and the browser asks nothing of another origin. ``tests/browser/test_api_docs.py`` loads
both docs pages and checks every request they make.
"""

import functools
from pathlib import Path

import drf_spectacular_sidecar
from django.http import HttpResponse
from django.views.decorators.http import require_safe

BUNDLE = (
    Path(drf_spectacular_sidecar.__file__).parent
    / "static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
)
CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
#: an empty SVG written inline: no request, and nothing drawn in the logo's place
NO_LOGO = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"
#: the bundle changes only with the installed sidecar, whose version the URL does not carry
MAX_AGE_SECONDS = 3600


@functools.cache
def _bundle() -> bytes:
    return BUNDLE.read_bytes().replace(CDN_LOGO, NO_LOGO)


@require_safe
def redoc_bundle(request) -> HttpResponse:
    response = HttpResponse(_bundle(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}"
    return response
