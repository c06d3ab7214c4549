"""Staff pages in the staff member's language: the one they chose, else their browser's.

Only the staff pages (``/staff/``, the admin, and the language switch itself) follow the
browser: the shops' API answers in English whatever a client's ``Accept-Language`` says,
and the public tracking page follows the order's customer locale
(``orderflow.customer_locale``). The switch in the staff header posts to Django's
``set_language``, which keeps the choice in the ``django_language`` cookie that
:func:`get_language_from_request` reads first.

This middleware stands outside the session and message middleware, so a message a view
adds is rendered, and stored, in the same language as the page.
"""

from django.utils import translation
from django.utils.cache import patch_vary_headers

#: the paths whose pages follow the staff member's language (the admin is staff's too)
STAFF_PREFIXES = ("/staff/", "/i18n/", "/admin/")


class StaffLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith(STAFF_PREFIXES):
            return self.get_response(request)
        language = translation.get_language_from_request(request)
        with translation.override(language):
            request.LANGUAGE_CODE = translation.get_language()
            response = self.get_response(request)
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        return response
