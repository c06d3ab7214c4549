"""A WebSocket test communicator whose waits are bounded but never tight.

channels' ``WebsocketCommunicator`` gives a handshake, a frame and a disconnect one second
by default. That is timing, not a condition: on a loaded machine a handshake that reads
the session and the snapshot from PostgreSQL can take longer, and the test then fails
with a bare ``TimeoutError`` for no fault of the code. Every wait here still has a bound,
so a socket that never answers fails the test instead of hanging it.
"""

from channels.testing import WebsocketCommunicator

#: seconds any one wait may take before the test fails
PATIENCE = 30


class Communicator(WebsocketCommunicator):
    """``WebsocketCommunicator`` with patient defaults; explicit timeouts still apply."""

    async def connect(self, timeout: float = PATIENCE):
        return await super().connect(timeout)

    async def receive_from(self, timeout: float = PATIENCE):
        return await super().receive_from(timeout)

    async def receive_json_from(self, timeout: float = PATIENCE):
        return await super().receive_json_from(timeout)

    async def disconnect(self, code: int = 1000, timeout: float = PATIENCE):
        await super().disconnect(code, timeout)
