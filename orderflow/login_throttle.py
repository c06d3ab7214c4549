"""Login throttling: django-axes' backend, for logins that come with a request.

Every web login (the admin's login form, which staff use too) authenticates with its
request, and axes counts its failures per (username, client address). A call to
``authenticate()`` without a request (the test client's ``login()``, a script) has no
client to count against: plain django-axes refuses it with an exception; here it is
passed on to the next backend unthrottled, as there is nothing to throttle.
"""

from axes.backends import AxesStandaloneBackend


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuse a locked-out (username, address) before the password is checked."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
