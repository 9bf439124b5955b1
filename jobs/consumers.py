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
from progress.auth import stream_user
from progress.streams import follow, parse_last_event_id

CLOSE_NOT_FOUND = 4404
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400


class JobProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.task: asyncio.Task[None] | None = None
        query = parse_qs(self.scope.get("query_string", b"").decode())
        headers = dict(self.scope.get("headers", []))
        user = await stream_user(
            session_user=self.scope.get("user"),
            authorization=headers.get(b"authorization", b"").decode(),
            query_token=(query.get("token") or [""])[0],
        )
        if user is None:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        job = await database_sync_to_async(selectors.job_for_user)(
            user=user, job_id=self.scope["url_route"]["kwargs"]["job_id"]
        )
        if job is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        last, error = parse_last_event_id(None, (query.get("last_event_id") or [None])[0])
        if error:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        await self.accept()
        self.task = asyncio.create_task(self._pump(job.pk, last))

    async def _pump(self, job_id: Any, last: int | None) -> None:
        async for item in follow(stream_id=job_id, group=job_group(job_id), last_event_id=last):
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
