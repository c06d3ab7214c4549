"""The demo simulator's requests, kept off ``make run``'s terminal.

In embedded mode the server (daphne's ``runserver``) writes one access line per request.
``manage.py simulate`` calls the API about once a second to give the board some life, and
its lines scrolled the newcomer's summary (board, logins, key, curl) out of sight within
a minute. So did the webhooks of its orders once the README's example had registered the
webhook inbox for the demo shop: a delivery a second, each already shown on the inbox's
page. The simulator names itself in its ``User-Agent``, as the webhook sender does; this
middleware notes the client address (host and port) of each such request, and the filter
on the server's access log drops the one line for that address. Every other request keeps
its line, and the simulator's errors still reach the terminal through its own stderr.

The access line carries no headers, only the client's address: hence the note between the
two. Both live in the web process (runserver serves the application itself); a note whose
line never comes (a WebSocket, a dropped connection) is forgotten after ``MAX_NOTED``
newer ones, so an address reused later by a real client is not silenced for long.
"""

import threading
from collections import OrderedDict

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware

#: what ``manage.py simulate`` sends as its User-Agent
SIMULATOR_USER_AGENT = "OrderFlow-simulate/1"
#: what the webhook sender sends (notifications/webhooks.py): in embedded mode its only
#: local receiver is the webhook inbox, whose page shows every delivery
WEBHOOK_USER_AGENT_PREFIX = "OrderFlow-Webhooks/"
#: client addresses noted and not yet logged; the oldest go first past this
MAX_NOTED = 1000

_noted: OrderedDict[str, None] = OrderedDict()
_lock = threading.Lock()


def _note_if_demo_traffic(request) -> None:
    agent = request.headers.get("User-Agent", "")
    if agent != SIMULATOR_USER_AGENT and not agent.startswith(WEBHOOK_USER_AGENT_PREFIX):
        return
    host, port = request.META.get("REMOTE_ADDR"), request.META.get("REMOTE_PORT")
    if host and port:
        with _lock:
            _noted[f"{host}:{port}"] = None
            while len(_noted) > MAX_NOTED:
                _noted.popitem(last=False)


def _taken(client: str) -> bool:
    """Forget ``client`` if it was noted; tell whether it was."""
    with _lock:
        if client not in _noted:
            return False
        del _noted[client]
        return True


@sync_and_async_middleware
def demo_traffic_middleware(get_response):
    """Note the client address of each request the simulator (or the webhook sender) makes."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            _note_if_demo_traffic(request)
            return await get_response(request)

    else:

        def middleware(request):
            _note_if_demo_traffic(request)
            return get_response(request)

    return middleware


class QuietDemoTrafficFilter:
    """Drop the server's access line of a request the middleware noted (a logging filter)."""

    def filter(self, record) -> bool:
        details = record.args if isinstance(record.args, dict) else {}
        client = details.get("client")
        return not (isinstance(client, str) and _taken(client))
