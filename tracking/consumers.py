"""Live sockets: the staff board, one order's timeline, and the public tracking page.

Each socket sends a snapshot from the database on connect (and whenever the page asks
with ``{"type": "resync"}``), then forwards pushes, and sends a heartbeat carrying the
newest entry id it covers, so that a page that missed a push resyncs. Staff sockets
need a logged-in staff user whose role may see the staff pages (the Origin check wraps
them in ``orderflow.asgi``), and close when that login ends (``staff_sessions``); the
public socket needs the order's tracking token and only ever sends public shapes, and
one client may hold only so many of them open (``socket_slots``). A socket that asks
for more than ``TRACKING_RESYNCS_PER_MINUTE`` resyncs is closed: each costs queries,
and the page's reconnect gets it a fresh snapshot anyway.
"""

import abc
import asyncio
import contextlib
import json
import time
from collections import deque
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import translation

from orderflow import customer_locale, roles

from . import (
    filters,
    metrics,
    payloads,
    public_page,
    push,
    queues,
    selectors,
    services,
    socket_slots,
    staff_sessions,
)

#: Close codes, for the page to act on (static/js/live.js; README, "Live over WebSockets").
#: A staff socket's login is refused by accepting and closing at once with SESSION_ENDED or
#: FORBIDDEN: a handshake refused outright reaches the browser as 1006, the same as a
#: network drop, and the page would reconnect forever on stale data. The other refusals
#: close before accepting (the page sees a drop and retries with backoff).
SESSION_ENDED = 4401  # no login: logged out, session expired, password changed; log in again
FORBIDDEN = 4403  # logged in, but not staff with the role this socket needs
NOT_FOUND = 4404
TOO_MANY = 4429  # too many resyncs on this socket, or sockets from this client

#: the clock resync limits are counted on (tests replace it)
clock = time.monotonic
RESYNC_WINDOW_SECONDS = 60.0


class _LiveConsumer(AsyncJsonWebsocketConsumer, abc.ABC):
    #: what the user must be allowed to open the socket; None: anyone (the public socket)
    permission: str | None = roles.VIEW

    async def connect(self):
        self.live_groups: list[str] = []
        self.heartbeat = None
        self.accepted = False
        self.closing = False
        self.resyncs: deque[float] = deque()
        if self.permission is not None:
            refusal = await self.login_refusal()
            if refusal is not None:
                # accepted only to carry the code; nothing is joined or sent
                self.closing = True
                await self.accept()
                await self.close(code=refusal)
                return
            self.live_groups.append(staff_sessions.session_group(self.session_key))
        if not await self.prepare():
            await self.close(code=NOT_FOUND)
            return
        # last before accepting: a refused handshake never holds what ``admit`` takes
        if not await self.admit():
            await self.close(code=TOO_MANY)
            return
        await self.join()
        await self.accept()
        self.accepted = True
        metrics.websocket_connected(consumer=self.metric_name)
        await self.send_json(await self.snapshot())
        self.heartbeat = asyncio.create_task(self.beat())

    async def disconnect(self, code):
        if self.heartbeat is not None and self.heartbeat is not asyncio.current_task():
            self.heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.heartbeat
        for group in self.live_groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        await self.leave()
        if self.accepted:  # a refused handshake was never counted as open
            metrics.websocket_disconnected(consumer=self.metric_name)

    async def login_refusal(self) -> int | None:
        """Return the close code refusing the socket's login, or None while it may serve."""
        if not hasattr(self, "session_key"):
            user = self.scope.get("user")
            session = self.scope.get("session")
            if not (user and user.is_authenticated and session and session.session_key):
                return SESSION_ENDED
            self.session_key = session.session_key
            self.user_id = user.pk
        standing = await database_sync_to_async(staff_sessions.session_standing)(
            session_key=self.session_key, user_id=self.user_id, permission=self.permission
        )
        return {staff_sessions.ENDED: SESSION_ENDED, staff_sessions.FORBIDDEN: FORBIDDEN}.get(
            standing
        )

    async def still_allowed(self) -> bool:
        """Check the login again (staff sockets); close the socket and say False if it ended."""
        if self.permission is None or self.closing:
            return not self.closing
        refusal = await self.login_refusal()
        if refusal is None:
            return True
        await self.end(refusal)
        return False

    async def end(self, code: int) -> None:
        self.closing = True
        await self.close(code=code)

    async def staff_session_ended(self, message):
        """The session this socket was opened with was logged out: stop serving at once."""
        await self.end(SESSION_ENDED)

    async def admit(self) -> bool:
        """Take what the socket holds while open (the public socket's client slot)."""
        return True

    async def leave(self) -> None:
        """Give back what ``admit`` took."""

    async def refresh(self) -> None:
        """Keep what ``admit`` took alive, at each heartbeat."""

    @property
    def metric_name(self) -> str:
        return type(self).__name__

    async def _forward(self, message: dict) -> None:
        """Forward a live push to the page, and count it.

        The leading underscore matters: Channels never dispatches a message type to it.
        A socket whose login ended forwards nothing more while it closes.
        """
        if self.closing:
            return
        await self.send_json(message)
        metrics.record_websocket_push(consumer=self.metric_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """Decode a page's message; a binary frame or text that is not JSON counts as nothing.

        Channels' own decoding raises on either, which would end the socket with an error
        instead of a clean close.
        """
        try:
            content = json.loads(text_data) if text_data is not None else None
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            content = None
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        if not await self.still_allowed():
            return
        if isinstance(content, dict) and content.get("type") == "resync":
            if not self.resync_allowed():
                await self.end(TOO_MANY)
                return
            await self.send_json(await self.snapshot())

    def resync_allowed(self) -> bool:
        """Count this resync in a sliding minute; False past ``TRACKING_RESYNCS_PER_MINUTE``."""
        now = clock()
        while self.resyncs and self.resyncs[0] <= now - RESYNC_WINDOW_SECONDS:
            self.resyncs.popleft()
        if len(self.resyncs) >= settings.TRACKING_RESYNCS_PER_MINUTE:
            return False
        self.resyncs.append(now)
        return True

    async def join(self) -> None:
        # joining again is harmless, and restores membership a restarted layer forgot
        for group in self.live_groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def beat(self) -> None:
        while True:
            await asyncio.sleep(settings.TRACKING_HEARTBEAT_SECONDS)
            if not await self.still_allowed():
                return
            await self.join()
            await self.refresh()
            await self.send_json(
                {"type": "heartbeat", "watermark": await self.watermark(), **await self.tally()}
            )

    # --- what each socket defines ---
    @abc.abstractmethod
    async def prepare(self) -> bool:
        """Resolve what the socket watches and set ``live_groups``; False if nothing."""

    @abc.abstractmethod
    async def snapshot(self) -> dict:
        """The current state of what the socket watches, from the database."""

    @abc.abstractmethod
    async def watermark(self) -> int:
        """The newest history id the socket's view depends on (heartbeats carry it)."""

    async def tally(self) -> dict:
        """What else a heartbeat carries: counts no push can tell."""
        return {}


class BoardConsumer(_LiveConsumer):
    """``/ws/board/`` (every shop) or ``/ws/board/<shop_id>/``; ``?status=&queue=&q=`` filter
    rows, ``?page=&until=`` name a later page and the moment it is anchored at."""

    async def prepare(self) -> bool:
        shop_id = self.scope["url_route"]["kwargs"].get("shop_id")
        self.shop_id = filters.shop_id(str(shop_id)) if shop_id is not None else None
        if shop_id is not None and self.shop_id is None:
            return False  # 30 digits name no shop
        query = _query_string(self.scope)
        self.status = filters.board_status(query.get("status"))
        self.queue = filters.work_queue(query.get("queue"))
        self.query = filters.search_text(query.get("q"))
        self.page = filters.page_number(query.get("page"))
        self.until = filters.page_anchor(query.get("until")) if self.page > 1 else None
        self.live_groups.append(push.board_group(self.shop_id))
        return True

    async def snapshot(self) -> dict:
        return await database_sync_to_async(selectors.board_snapshot)(
            shop_id=self.shop_id,
            status=self.status,
            query=self.query,
            queue=self.queue,
            page=self.page,
            until=self.until,
        )

    async def watermark(self) -> int:
        return await database_sync_to_async(selectors.board_watermark)(shop_id=self.shop_id)

    async def tally(self) -> dict:
        """The queue counts no push can tell (stuck work): one query per heartbeat, not per push."""
        return {"queues": await database_sync_to_async(queues.other_counts)(shop_id=self.shop_id)}

    async def board_rows(self, message):
        """The rows one projector batch moved, each with its status and sequence before."""
        await self._forward({"type": "rows", "rows": message["rows"]})

    async def board_row(self, message):
        """One row, as a worker of the previous release pushes it (one step: a list of one)."""
        row = message["row"]
        await self.board_rows(
            {
                "rows": [
                    {
                        "row": row,
                        "previous_status": message["previous_status"],
                        "previous_sequence": row["sequence"] - 1,
                    }
                ]
            }
        )


class OrderTimelineConsumer(_LiveConsumer):
    """``/ws/orders/<uuid>/``: one order's live status and full timeline, for staff."""

    async def prepare(self) -> bool:
        self.order_id = self.scope["url_route"]["kwargs"]["order_id"]
        self.live_groups.append(push.order_group(self.order_id))
        return (
            await database_sync_to_async(services.tracked_order_ensure)(order_id=self.order_id)
            is not None
        )

    async def snapshot(self) -> dict:
        return await database_sync_to_async(_timeline_snapshot)(self.order_id)

    async def watermark(self) -> int:
        return await database_sync_to_async(selectors.order_watermark)(order_id=self.order_id)

    async def tracking_entries(self, message):
        """The order's new entries of one projector batch, in order, and its status after."""
        await self._forward(
            {"type": "entries", "entries": message["entries"], "order": message["order"]}
        )

    async def tracking_entry(self, message):
        """One entry, as a worker of the previous release pushes it."""
        await self.tracking_entries({"entries": [message["entry"]], "order": message["order"]})

    async def tracking_notes(self, message):
        """A note was written on the order: the page fetches its blocks again."""
        await self._forward({"type": "notes"})


class PublicTrackingConsumer(_LiveConsumer):
    """``/ws/track/<token>/``: what the customer may see of one order, and nothing else."""

    permission = None

    async def admit(self) -> bool:
        """The client slot ``prepare`` claimed with the order's lookup (one thread hop)."""
        return self.slot is not None

    async def leave(self) -> None:
        if getattr(self, "slot", None) is not None:
            await database_sync_to_async(socket_slots.slot_release)(
                key=self.slot, owner=self.channel_name
            )
            self.slot = None

    async def refresh(self) -> None:
        await database_sync_to_async(socket_slots.slot_refresh)(
            key=self.slot, owner=self.channel_name
        )

    async def prepare(self) -> bool:
        token = self.scope["url_route"]["kwargs"]["token"]
        self.token = token
        self.slot = None
        client = self.scope.get("client") or ("unknown", 0)
        found = await database_sync_to_async(_public_open)(
            token=token, client=str(client[0]), owner=self.channel_name
        )
        if found is None:
            return False
        tracked, self.slot = found
        self.order_id = tracked.order_id
        # the page's language: the page puts its own in the socket's query string
        self.language = customer_locale.page_language(
            order_locale=tracked.customer_locale,
            accept_language=_header(self.scope, b"accept-language"),
            asked=_query_string(self.scope).get("lang", ""),
        )
        self.live_groups.append(push.public_group(self.order_id))
        return True

    async def snapshot(self) -> dict:
        tracking = await database_sync_to_async(services.public_tracking_get)(token=self.token)
        with translation.override(self.language):
            return public_page.snapshot_message(tracking.snapshot)

    async def watermark(self) -> int:
        return await database_sync_to_async(selectors.order_watermark)(
            order_id=self.order_id, public_only=True
        )

    async def tracking_entries(self, message):
        # only the public group reaches this socket; the allow-list is applied once more,
        # then the page's words are written in its language (no query: the push has the facts)
        order, entries = payloads.public_only(order=message["order"], entries=message["entries"])
        with translation.override(self.language):
            words = public_page.steps_message(order=order, entries=entries)
        await self._forward(words)

    async def tracking_entry(self, message):
        """One entry, as a worker of the previous release pushes it."""
        await self.tracking_entries({"entries": [message["entry"]], "order": message["order"]})


class NotFoundConsumer(AsyncJsonWebsocketConsumer):
    """Any ``/ws/`` path no socket serves: refuse the handshake with 4404."""

    async def connect(self):
        await self.close(code=NOT_FOUND)


def _public_open(*, token: str, client: str, owner: str):
    """The order ``token`` names and a slot of ``client``'s for its socket, or None if no
    order; the slot is None when the client holds as many sockets as it may."""
    tracked = services.public_tracked_order(token=token)
    if tracked is None:
        return None  # no slot taken for a socket refused anyway
    return tracked, socket_slots.slot_claim(client=client, owner=owner)


def _timeline_snapshot(order_id) -> dict:
    return selectors.timeline_snapshot(tracked=selectors.tracked_order_get(order_id=order_id))


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return ""


def _query_string(scope) -> dict[str, str]:
    parsed = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {key: values[-1][:100] for key, values in parsed.items()}
