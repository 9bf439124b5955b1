"""Baseline for the suite: the seed's design, where each connection polls MongoDB every 2 seconds.

`GET /api/jobs/<id>/progress` reads the job's events after the last one it sent, every POLL_SECONDS,
and writes them as SSE frames (the same framing as contentgen). No push, no shared subscription: the
database answers one query per open stream per poll. `/healthz` answers 200.

Run: <server> bench.polling_baseline:application (the suite starts it with the right environment).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.uri_parser import parse_uri

POLL_SECONDS = 2.0
PATH = re.compile(r"^/api/jobs/([0-9a-f]{24})/progress$")
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]

_client: AsyncMongoClient[dict[str, Any]] | None = None


def _events() -> Any:
    global _client
    uri = os.environ["MONGODB_URI"]
    if _client is None:
        _client = AsyncMongoClient(uri)
    return _client[parse_uri(uri)["database"] or "contentgen"]["progress_events"]


async def _plain(send: Any, status: int, body: bytes) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
    )
    await send({"type": "http.response.body", "body": body})


async def _poll(job_id: ObjectId, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    await send({"type": "http.response.body", "body": b"retry: 3000\n\n", "more_body": True})
    last = None
    while True:
        query: dict[str, Any] = {"job_id": job_id}
        if last is not None:
            query["seq"] = {"$gt": last}
        cursor = _events().find(query).sort("seq", -1 if last is None else 1)
        docs = await cursor.to_list(1 if last is None else None)
        for doc in docs:
            last = int(doc["seq"])
            data = json.dumps(doc["data"], separators=(",", ":"))
            frame = f"id: {last}\nevent: {doc['type']}\ndata: {data}\n\n"
            await send({"type": "http.response.body", "body": frame.encode(), "more_body": True})
        await asyncio.sleep(POLL_SECONDS)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await _plain(send, 200, b"ok")
        return
    match = PATH.match(scope["path"])
    if match is None:
        await _plain(send, 404, b"not found")
        return
    poller = asyncio.create_task(_poll(ObjectId(match.group(1)), send))
    with contextlib.suppress(Exception):
        while (await receive())["type"] != "http.disconnect":
            pass
    poller.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await poller
