"""Baseline for the suite: a bare Channels SSE consumer, each connection subscribed to its group itself.

`GET /api/jobs/<id>/progress`: an `AsyncHttpConsumer` whose channel joins `job_<id>` and writes every
message as an SSE frame (`id`/`event`/`data`, the same as contentgen's). It overrides `http_request`,
because Channels stops a consumer as soon as `handle()` returns (DESIGN.md). No authentication, no
replay, no initial state, the project's channel layer (pub/sub). `/healthz` answers 200.

Run: <server> bench.channels_baseline:application (the suite starts it with the right environment).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contentgen.settings")

import django  # noqa: E402

django.setup()

from channels.generic.http import AsyncHttpConsumer  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class ProgressConsumer(AsyncHttpConsumer):
    async def http_request(self, message: dict[str, Any]) -> None:
        if message.get("more_body"):
            return
        self.group = f"job_{self.scope['url_route']['kwargs']['job_id']}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_headers(headers=SSE_HEADERS)
        await self.send_body(b"retry: 3000\n\n", more_body=True)

    async def disconnect(self) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def progress_event(self, message: dict[str, Any]) -> None:
        data = json.dumps(message["data"], separators=(",", ":"))
        frame = f"id: {message['seq']}\nevent: {message['event']}\ndata: {data}\n\n"
        await self.send_body(frame.encode(), more_body=True)


class Healthz(AsyncHttpConsumer):
    async def handle(self, body: bytes) -> None:
        await self.send_response(200, b"ok", headers=[(b"content-type", b"text/plain")])


application = URLRouter(
    [
        path("api/jobs/<str:job_id>/progress", ProgressConsumer.as_asgi()),
        path("healthz", Healthz.as_asgi()),
    ]
)
