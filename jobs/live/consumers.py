"""WebSocket `/ws/jobs/<id>/`: the SSE stream's data objects, with `type` and `seq` added.

Credentials and ownership are the lean path's cached lookups (the session cookie or the token, no session
middleware), the steps before the first event are the SSE stream's (progress.sse.start), and each event's
JSON text is made once per process for every socket following the job.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from contentgen.metrics import STREAMS_OPEN
from jobs.core.events import job_group
from jobs.live.owners import owned
from jobs.models import GenerationJob
from progress import stream_limits
from progress.auth import TOKEN_SUBPROTOCOL, credentials_user, session_key_from, token_key
from progress.jsonenc import dumps
from progress.sse import Opened, Recheck, Refusal, cached, checking, start
from progress.streams import Item

CLOSE_TOO_MANY = 4429
CLOSE_NORMAL = 1000
# An open socket whose credentials stopped working (logout, a deleted token, deactivation): 4401; whose user
# may no longer watch: 4403. Checked at every ping interval (progress.sse.Recheck).
CLOSE_REFUSED = {401: 4401, 403: 4403}
# The stream's answers that accept the socket and close it at once: over a stream cap (4429, so a client
# knows to wait rather than give up), and resumed at or after the final event (204: a normal close).
# Any other refusal (401, 404, 400) closes before accepting: the handshake is refused with HTTP 403.
CLOSE_AFTER_ACCEPT = {429: CLOSE_TOO_MANY, 204: CLOSE_NORMAL}


def _ws_text(item: Item) -> str:
    return cached(item, "ws", lambda: dumps({**item.data, "type": item.type, "seq": item.seq}))


class JobProgressConsumer(AsyncWebsocketConsumer):
    async def _refuse(self, refusal: Refusal) -> None:
        """Unauthenticated, someone else's or a missing job, a bad last_event_id: the handshake is refused
        (HTTP 403), as it always was. Only a stream cap is told apart, with close code 4429 after accepting,
        so a client knows to wait rather than give up; a resume after the final event closes normally."""
        code = CLOSE_AFTER_ACCEPT.get(refusal.status)
        if code is None:
            await self.close()  # before accept: the server answers the handshake with 403
            return
        await self.accept(self.subprotocol)
        await self.close(code=code)

    async def connect(self) -> None:
        self.task: asyncio.Task[None] | None = None
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        headers = dict(self.scope.get("headers", []))
        subprotocols = list(self.scope.get("subprotocols") or [])
        # The token's subprotocol is echoed, as a browser requires; the key itself never is.
        self.subprotocol = TOKEN_SUBPROTOCOL if subprotocols[:1] == [TOKEN_SUBPROTOCOL] else None
        cookie = headers.get(b"cookie", b"").decode("latin-1")
        token = token_key(headers.get(b"authorization", b"").decode("latin-1"), subprotocols)
        user = await credentials_user(cookie=cookie, token=token)
        job_id = await owned(GenerationJob, user=user, object_id=self.scope["url_route"]["kwargs"]["job_id"])
        opened = await start(
            user=user,
            stream_id=job_id,
            group=job_group(job_id),
            last_header=None,
            last_query=(query.get("last_event_id") or [None])[0],
        )
        if isinstance(opened, Refusal):
            await self._refuse(opened)
            return
        await self.accept(self.subprotocol)
        recheck = checking(user, session_key=session_key_from(cookie), token=token)
        self.task = asyncio.create_task(self._pump(opened, recheck))

    async def _pump(self, opened: Opened, recheck: Recheck) -> None:
        assert opened.stream is not None
        STREAMS_OPEN.labels("websocket").inc()
        try:
            async for item in recheck.passing(stream_limits.held(opened.stream.items(), opened.slot)):
                if item.type != "ping":
                    await self.send(text_data=_ws_text(item))
        finally:
            STREAMS_OPEN.labels("websocket").dec()
            opened.slot.release()
            await opened.stream.close()
        await self.close(code=CLOSE_REFUSED.get(recheck.status, CLOSE_NORMAL))

    async def disconnect(self, code: int) -> None:
        if getattr(self, "task", None) is not None and self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Clients only listen; anything they send is ignored."""
