"""Live sockets: the staff board, one order's timeline, and the public tracking page.

Each socket sends a snapshot from the database on connect (and whenever the page asks
with ``{"type": "resync"}``), then forwards pushes, and sends a heartbeat carrying the
newest entry id it covers, so that a page that missed a push resyncs. Staff sockets
need a logged-in staff user (the Origin check wraps them in ``orderflow.asgi``); the
public socket needs the order's tracking token and only ever sends public shapes.
"""

import abc
import asyncio
import contextlib
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from orderflow import metrics

from . import push, selectors, services

#: close codes, sent before accepting: the browser sees a refused handshake
FORBIDDEN = 4403
NOT_FOUND = 4404


class _LiveConsumer(AsyncJsonWebsocketConsumer, abc.ABC):
    staff_only = True

    async def connect(self):
        self.live_groups: list[str] = []
        self.heartbeat = None
        self.accepted = False
        user = self.scope.get("user")
        if self.staff_only and not (user and user.is_authenticated and user.is_staff):
            await self.close(code=FORBIDDEN)
            return
        if not await self.prepare():
            await self.close(code=NOT_FOUND)
            return
        await self.join()
        await self.accept()
        self.accepted = True
        metrics.websocket_connected(consumer=self.metric_name)
        await self.send_json(await self.snapshot())
        self.heartbeat = asyncio.create_task(self.beat())

    async def disconnect(self, code):
        if self.heartbeat is not None:
            self.heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.heartbeat
        for group in self.live_groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.accepted:  # a refused handshake was never counted as open
            metrics.websocket_disconnected(consumer=self.metric_name)

    @property
    def metric_name(self) -> str:
        return type(self).__name__

    async def _forward(self, message: dict) -> None:
        """Forward a live push to the page, and count it.

        The leading underscore matters: Channels never dispatches a message type to it.
        """
        await self.send_json(message)
        metrics.record_websocket_push(consumer=self.metric_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "resync":
            await self.send_json(await self.snapshot())

    async def join(self) -> None:
        # joining again is harmless, and restores membership a restarted layer forgot
        for group in self.live_groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def beat(self) -> None:
        while True:
            await asyncio.sleep(settings.TRACKING_HEARTBEAT_SECONDS)
            await self.join()
            await self.send_json({"type": "heartbeat", "watermark": await self.watermark()})

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


class BoardConsumer(_LiveConsumer):
    """``/ws/board/`` (every shop) or ``/ws/board/<shop_id>/``; ``?status=&q=`` filter rows."""

    async def prepare(self) -> bool:
        shop_id = self.scope["url_route"]["kwargs"].get("shop_id")
        self.shop_id = int(shop_id) if shop_id is not None else None
        query = _query_string(self.scope)
        self.status = query.get("status", "")
        self.query = query.get("q", "")
        self.live_groups = [push.board_group(self.shop_id)]
        return True

    async def snapshot(self) -> dict:
        return await database_sync_to_async(selectors.board_snapshot)(
            shop_id=self.shop_id, status=self.status, query=self.query
        )

    async def watermark(self) -> int:
        return await database_sync_to_async(selectors.board_watermark)(shop_id=self.shop_id)

    async def board_row(self, message):
        await self._forward(
            {"type": "row", "row": message["row"], "previous_status": message["previous_status"]}
        )


class OrderTimelineConsumer(_LiveConsumer):
    """``/ws/orders/<uuid>/``: one order's live status and full timeline, for staff."""

    async def prepare(self) -> bool:
        self.order_id = self.scope["url_route"]["kwargs"]["order_id"]
        self.live_groups = [push.order_group(self.order_id)]
        return (
            await database_sync_to_async(services.tracked_order_ensure)(order_id=self.order_id)
            is not None
        )

    async def snapshot(self) -> dict:
        return await database_sync_to_async(_timeline_snapshot)(self.order_id)

    async def watermark(self) -> int:
        return await database_sync_to_async(selectors.order_watermark)(order_id=self.order_id)

    async def tracking_entry(self, message):
        await self._forward({"type": "entry", "entry": message["entry"], "order": message["order"]})


class PublicTrackingConsumer(_LiveConsumer):
    """``/ws/track/<token>/``: what the customer may see of one order, and nothing else."""

    staff_only = False

    async def prepare(self) -> bool:
        token = self.scope["url_route"]["kwargs"]["token"]
        self.token = token
        tracking = await database_sync_to_async(services.public_tracking_get)(token=token)
        if tracking is None:
            return False
        self.order_id = tracking.order_id
        self.live_groups = [push.public_group(self.order_id)]
        return True

    async def snapshot(self) -> dict:
        tracking = await database_sync_to_async(services.public_tracking_get)(token=self.token)
        return tracking.snapshot

    async def watermark(self) -> int:
        return await database_sync_to_async(selectors.order_watermark)(
            order_id=self.order_id, public_only=True
        )

    async def tracking_entry(self, message):
        # only the public group reaches this socket; the allow-list is applied once more
        entry, order = message["entry"], message["order"]
        await self._forward(
            {
                "type": "entry",
                "entry": {key: entry.get(key, "") for key in PUBLIC_ENTRY_FIELDS},
                "order": {key: order.get(key, "") for key in PUBLIC_ORDER_FIELDS},
            }
        )


PUBLIC_ENTRY_FIELDS = ("status", "label", "sequence", "occurred_at", "location", "note")
PUBLIC_ORDER_FIELDS = (
    "number",
    "shop_name",
    "carrier",
    "tracking_number",
    "status",
    "status_label",
    "sequence",
    "updated_at",
    "next_step",
)


def _timeline_snapshot(order_id) -> dict:
    return selectors.timeline_snapshot(tracked=selectors.tracked_order_get(order_id=order_id))


def _query_string(scope) -> dict[str, str]:
    parsed = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {key: values[-1][:100] for key, values in parsed.items()}
