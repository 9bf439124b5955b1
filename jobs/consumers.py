"""WebSocket `/ws/jobs/<id>/`: the SSE stream's data objects, with `type` and `seq` added."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from contentgen.metrics import STREAMS_OPEN
from jobs import selectors
from jobs.groups import job_group
from progress import stream_limits
from progress.auth import TOKEN_SUBPROTOCOL, stream_user
from progress.streams import follow, parse_last_event_id

CLOSE_NOT_FOUND = 4404
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400
CLOSE_TOO_MANY = 4429


class JobProgressConsumer(AsyncJsonWebsocketConsumer):
    async def _refuse(self, code: int) -> None:
        """Unauthenticated, someone else's or a missing job, a bad last_event_id: the handshake is refused
        (HTTP 403), as it always was. Only a stream cap is told apart, with close code 4429 after accepting,
        so a client knows to wait rather than give up."""
        if code == CLOSE_TOO_MANY:
            await self.accept(self.subprotocol)
        await self.close(code=code)

    async def connect(self) -> None:
        self.task: asyncio.Task[None] | None = None
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        headers = dict(self.scope.get("headers", []))
        subprotocols = list(self.scope.get("subprotocols") or [])
        # The token's subprotocol is echoed, as a browser requires; the key itself never is.
        self.subprotocol = TOKEN_SUBPROTOCOL if subprotocols[:1] == [TOKEN_SUBPROTOCOL] else None
        user = await stream_user(
            session_user=self.scope.get("user"),
            authorization=headers.get(b"authorization", b"").decode("latin-1"),
            subprotocols=subprotocols,
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
        STREAMS_OPEN.labels("websocket").inc()
        try:
            items = follow(stream_id=job_id, group=job_group(job_id), last_event_id=last)
            async for item in stream_limits.held(items, slot):
                if item.type == "ping":
                    continue
                await self.send_json({**item.data, "type": item.type, "seq": item.seq})
        finally:
            STREAMS_OPEN.labels("websocket").dec()
        await self.close()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "task", None) is not None and self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Clients only listen; anything they send is ignored."""
