"""Baseline for the suite (bench/suite.py): a bare ASGI app, each SSE connection subscribed to its group.

`GET /api/jobs/<id>/progress` takes a channel of its own (`new_channel()`), adds it to `job_<id>` and
writes every message it receives as an SSE frame, with the same `id`/`event`/`data` as contentgen's
stream. This is the "subscription per connection" design that docs/measurements.md records; the channel
layer is the project's own (`contentgen.settings.CHANNEL_LAYERS`), so the fan-out design is the only
difference. No authentication, no replay, no initial state: the response headers go out once the channel
is in the group, so a client that has them will see every later event. `/healthz` answers 200.

Run: <server> bench.fanout_baseline:application (the suite starts it with the right environment).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contentgen.settings")

import django  # noqa: E402

django.setup()

from channels.layers import get_channel_layer  # noqa: E402

PATH = re.compile(r"^/api/jobs/([^/]+)/progress/?$")
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


async def _plain(send: Any, status: int, body: bytes) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
    )
    await send({"type": "http.response.body", "body": body})


def _frame(message: dict[str, Any]) -> bytes:
    data = json.dumps(message["data"], separators=(",", ":"))
    return f"id: {message['seq']}\nevent: {message['event']}\ndata: {data}\n\n".encode()


async def _stream(group: str, receive: Any, send: Any) -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)

    async def pump() -> None:
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        await send({"type": "http.response.body", "body": b"retry: 3000\n\n", "more_body": True})
        while True:
            message = await layer.receive(channel)
            await send({"type": "http.response.body", "body": _frame(message), "more_body": True})

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.create_task(pump()), asyncio.create_task(disconnected())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(layer.group_discard(group, channel), timeout=3)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await _plain(send, 200, b"ok")
        return
    match = PATH.match(scope["path"])
    if match is None:
        await _plain(send, 404, b"not found")
        return
    await _stream(f"job_{match.group(1)}", receive, send)
