"""One job's or batch's events as an async iterator: replay from the log, then live, no gap, no duplicate.

Subscribe first, then read the log, then pass live events on keeping only seq > last sent: an event
that lands while the replay runs is either in the replay or in the buffer, and never sent twice. A
seq jump (a lost push, an overflowed buffer, Redis coming back) triggers one catch-up read of the
log. Those and the first read are the only database reads while a stream is healthy.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from bson import ObjectId
from django.conf import settings

from progress import events
from progress.hub import CATCHUP, Pushed, get_hub

PING_INTERVAL = float(settings.CONTENTGEN_SSE_PING_SECONDS)
DEGRADED_POLL_INTERVAL = 3.0
TERMINAL = "complete"


@dataclass(frozen=True)
class Item:
    """An event to send (seq, type, data), or a keep-alive when `type` is "ping".

    `cache` is shared by every stream of the process that sends this event: encode it once there."""

    type: str
    data: dict[str, Any]
    seq: int | None = None
    stream_id: str | None = None
    cache: dict[Any, Any] | None = field(default=None, compare=False, repr=False)


PING = Item(type="ping", data={})


_CACHES: OrderedDict[tuple[str, int], dict[Any, Any]] = OrderedDict()
_CACHES_MAX = 4096


def event_cache(stream_id: str, seq: int, cache: dict[Any, Any] | None = None) -> dict[Any, Any]:
    """The encodings cache of one event, the same for a push and for a replay of it."""
    key = (stream_id, seq)
    found = _CACHES.get(key)
    if found is None:
        found = _CACHES[key] = cache if cache is not None else {}
        if len(_CACHES) > _CACHES_MAX:
            _CACHES.popitem(last=False)
    return found


_inflight: dict[tuple[Any, ...], tuple[float, asyncio.Future[Any]]] = {}


async def _read(function: Callable[..., Any], *args: Any, since: float) -> Any:
    """Event-log reads run in the thread pool, in parallel across streams (pymongo is thread-safe).

    Streams that ask the same question share one read, provided it started after `since` (when their
    subscription was confirmed): 1,000 viewers opening one job's stream make one read, not 1,000, and
    none can miss an event published between a shared read and its own subscription."""
    key = (function.__name__, *args)
    current = _inflight.get(key)
    if current is not None and current[0] >= since:
        return await asyncio.shield(current[1])
    future: asyncio.Future[Any] = asyncio.ensure_future(
        sync_to_async(function, thread_sensitive=False)(*args)
    )
    _inflight[key] = (time.monotonic(), future)
    try:
        return await asyncio.shield(future)
    finally:
        if _inflight.get(key, (0.0, None))[1] is future:
            del _inflight[key]


def _item(doc: dict[str, Any]) -> Item:
    stream_id, seq = str(doc["job_id"]), int(doc["seq"])
    return Item(
        type=doc["type"], data=doc["data"], seq=seq, stream_id=stream_id, cache=event_cache(stream_id, seq)
    )


async def follow(
    *, stream_id: ObjectId, group: str, last_event_id: int | None, ping_interval: float = PING_INTERVAL
) -> AsyncIterator[Item]:
    hub = get_hub()
    subscription = await hub.subscribe(group)
    since = time.monotonic()
    try:
        last = 0
        if last_event_id is None:
            latest = await _read(events.latest, stream_id, since=since)
            backlog = [latest] if latest else []
        else:
            last = last_event_id
            backlog = await _read(events.after, stream_id, last, since=since)
        for doc in backlog:
            item = _item(doc)
            last = max(last, item.seq or 0)
            yield item
            if item.type == TERMINAL:
                return
        last_sent = time.monotonic()

        async def catch_up() -> AsyncIterator[Item]:
            nonlocal last
            for doc in await _read(events.after, stream_id, last, since=time.monotonic()):
                item = _item(doc)
                last = item.seq or last
                yield item

        while True:
            wait = max(0.0, ping_interval - (time.monotonic() - last_sent))
            if hub.degraded:
                wait = min(wait, DEGRADED_POLL_INTERVAL)
            message: Pushed | None
            try:
                async with asyncio.timeout(wait):
                    message = await subscription.queue.get()
            except TimeoutError:
                message = None
            if subscription.take_overflow() or message is CATCHUP or (message is None and hub.degraded):
                pending = [item async for item in catch_up()]
            elif message is None:
                pending = []
            elif message.get("stream_id") != str(stream_id) or int(message["seq"]) <= last:
                continue
            elif int(message["seq"]) == last + 1:
                last = int(message["seq"])
                pending = [
                    Item(
                        type=message["event"],
                        data=message["data"],
                        seq=last,
                        stream_id=str(stream_id),
                        cache=event_cache(str(stream_id), last, message.cache),
                    )
                ]
            else:
                pending = [item async for item in catch_up()]
            for item in pending:
                last_sent = time.monotonic()
                yield item
                if item.type == TERMINAL:
                    return
            if not pending and time.monotonic() - last_sent >= ping_interval:
                last_sent = time.monotonic()
                yield PING
    finally:
        await hub.unsubscribe(subscription)


async def follow_group(*, group: str, ping_interval: float = PING_INTERVAL) -> AsyncIterator[Item]:
    """Every event pushed to a group (a user's dashboard): live only, no ids to resume from."""
    hub = get_hub()
    subscription = await hub.subscribe(group)
    try:
        while True:
            try:
                async with asyncio.timeout(ping_interval):
                    message = await subscription.queue.get()
            except TimeoutError:
                yield PING
                continue
            subscription.take_overflow()
            if message is CATCHUP or "event" not in message:
                continue
            yield Item(
                type=message["event"],
                data=message["data"],
                seq=None,
                stream_id=message.get("stream_id"),
                cache=message.cache,
            )
    finally:
        await hub.unsubscribe(subscription)


def parse_last_event_id(header: str | None, query: str | None) -> tuple[int | None, str | None]:
    """(value, error). The header wins; `?last_event_id=N` serves clients that cannot set headers."""
    raw = header if header not in (None, "") else query
    if raw in (None, ""):
        return None, None
    assert raw is not None
    raw = raw.strip()
    if not raw.isdigit():
        return None, "Last-Event-ID must be a non-negative whole number."
    return int(raw), None


Render = Callable[[Item], str]
