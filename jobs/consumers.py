"""WebSocket `/ws/jobs/<id>/`: the SSE stream's data objects, with `type` and `seq` added."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from jobs import selectors
from jobs.groups import job_group
from progress import stream_limits
from progress.auth import stream_user
from progress.streams import follow, parse_last_event_id

CLOSE_NOT_FOUND = 4404
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400
CLOSE_TOO_MANY = 4429


TOKEN_SUBPROTOCOL = "token"


def _credentials(scope: dict[str, Any]) -> tuple[str, bool]:
    """The API token from `Authorization: Token <key>`, or from the subprotocols `["token", "<key>"]` (what a
    browser can send). Never from the URL, which servers and proxies write to their logs."""
    headers = dict(scope.get("headers", []))
    scheme, _, key = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "token" and key.strip():
        return key.strip(), False
    protocols = list(scope.get("subprotocols") or [])
    if len(protocols) == 2 and protocols[0] == TOKEN_SUBPROTOCOL:
        return protocols[1], True
    return "", False


class JobProgressConsumer(AsyncJsonWebsocketConsumer):
    async def _refuse(self, code: int) -> None:
        """Accept, then close with `code`: a refused handshake would only tell the client 403."""
        await self.accept(self.subprotocol)
        await self.close(code=code)

    async def connect(self) -> None:
        self.task: asyncio.Task[None] | None = None
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token, by_subprotocol = _credentials(self.scope)
        self.subprotocol = TOKEN_SUBPROTOCOL if by_subprotocol else None
        user = await stream_user(
            session_user=self.scope.get("user"), authorization=f"Token {token}" if token else ""
        )
        if user is None:
            await self._refuse(CLOSE_UNAUTHORIZED)
            return
        job = await database_sync_to_async(selectors.job_for_user)(
            user=user, job_id=self.scope["url_route"]["kwargs"]["job_id"]
        )
        if job is None:
            await self._refuse(CLOSE_NOT_FOUND)
            return
        last, error = parse_last_event_id(None, (query.get("last_event_id") or [None])[0])
        if error:
            await self._refuse(CLOSE_BAD_REQUEST)
            return
        try:
            slot = await stream_limits.acquire(user)
        except stream_limits.TooManyStreams:
            await self._refuse(CLOSE_TOO_MANY)
            return
        await self.accept(self.subprotocol)
        self.task = asyncio.create_task(self._pump(job.pk, last, slot))

    async def _pump(self, job_id: Any, last: int | None, slot: stream_limits.StreamSlot) -> None:
        items = follow(stream_id=job_id, group=job_group(job_id), last_event_id=last)
        async for item in stream_limits.held(items, slot):
            if item.type == "ping":
                continue
            await self.send_json({**item.data, "type": item.type, "seq": item.seq})
        await self.close()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "task", None) is not None and self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Clients only listen; anything they send is ignored."""
