"""One job's or batch's events as an async iterator: replay from the log, then live, no gap, no duplicate.

Subscribe first, then read the log, then pass live events on keeping only seq > last sent: an event
that lands while the replay runs is either in the replay or in the buffer, and never sent twice. A
seq jump (a lost push, an overflowed buffer, Redis coming back) triggers one catch-up read of the
log. Those and the first read are the only database reads while a stream is healthy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from bson import ObjectId
from django.conf import settings

from contentgen.metrics import EVENT_SEND_DELAY
from progress import events
from progress.hub import CATCHUP, get_hub

PING_INTERVAL = float(settings.CONTENTGEN_SSE_PING_SECONDS)
DEGRADED_POLL_INTERVAL = 3.0
END_EVENT = "complete"  # the event type after which a stream ends


@dataclass(frozen=True)
class Item:
    """An event to send (seq, type, data), or a keep-alive when `type` is "ping"."""

    type: str
    data: dict[str, Any]
    seq: int | None = None
    stream_id: str | None = None


PING = Item(type="ping", data={})
# Replay and catch-up read the log this many events at a time: a stream never holds a whole long log.
REPLAY_CHUNK = 200
MAX_EVENT_ID_DIGITS = 18  # below 2**63: every id fits MongoDB's int64


async def _read(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Event-log reads run in the thread pool, in parallel across streams (pymongo is thread-safe)."""
    return await sync_to_async(function, thread_sensitive=False)(*args, **kwargs)


def observe_delay(data: dict[str, Any]) -> None:
    """Creation-to-send delay of a live event (the replay on connect is old on purpose: not counted)."""
    stamp = data.get("timestamp")
    if not isinstance(stamp, str):
        return
    try:
        created = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return
    if created.tzinfo is not None:
        EVENT_SEND_DELAY.observe(max(0.0, (dt.datetime.now(dt.UTC) - created).total_seconds()))


def _item(doc: dict[str, Any]) -> Item:
    return Item(type=doc["type"], data=doc["data"], seq=int(doc["seq"]), stream_id=str(doc["job_id"]))


async def follow(
    *, stream_id: ObjectId, group: str, last_event_id: int | None, ping_interval: float = PING_INTERVAL
) -> AsyncIterator[Item]:
    hub = get_hub()
    subscription = await hub.subscribe(group)
    try:
        last = 0

        async def replay() -> AsyncIterator[Item]:
            """Every stored event after `last`, read REPLAY_CHUNK at a time."""
            while True:
                docs = await _read(events.after, stream_id, last, limit=REPLAY_CHUNK)
                for doc in docs:
                    yield _item(doc)
                if len(docs) < REPLAY_CHUNK:
                    return

        latest = await _read(events.latest, stream_id)
        source: AsyncIterator[Item] | None
        if last_event_id is None:
            source = _items([_item(latest)] if latest else [])
        else:
            # An id beyond the log's end (a stale or forged header) means caught up at its last event.
            last = min(last_event_id, int(latest["seq"])) if latest else 0
            if latest and latest["type"] == END_EVENT and last >= int(latest["seq"]):
                return
            source = replay()
        last_sent = time.monotonic()
        while True:
            sent = False
            if source is not None:
                async for item in source:
                    last = max(last, item.seq or 0)
                    sent = True
                    last_sent = time.monotonic()
                    yield item
                    if item.type == END_EVENT:
                        return
            if not sent and time.monotonic() - last_sent >= ping_interval:
                last_sent = time.monotonic()
                yield PING
            wait = max(0.0, ping_interval - (time.monotonic() - last_sent))
            if hub.degraded:
                wait = min(wait, DEGRADED_POLL_INTERVAL)
            message: dict[str, Any] | None
            try:
                message = await asyncio.wait_for(subscription.queue.get(), timeout=wait)
            except TimeoutError:
                message = None
            if subscription.take_overflow() or message is CATCHUP or (message is None and hub.degraded):
                source = replay()
            elif message is None or message.get("stream_id") != str(stream_id) or int(message["seq"]) <= last:
                source = None
            elif int(message["seq"]) == last + 1:
                seq, kind = int(message["seq"]), message["event"]
                observe_delay(message["data"])
                source = _items([Item(type=kind, data=message["data"], seq=seq, stream_id=str(stream_id))])
            else:
                source = replay()
    finally:
        await hub.unsubscribe(subscription)


async def _items(items: list[Item]) -> AsyncIterator[Item]:
    for item in items:
        yield item


async def follow_group(*, group: str, ping_interval: float = PING_INTERVAL) -> AsyncIterator[Item]:
    """Every event pushed to a group (a user's dashboard): live only, no ids to resume from."""
    hub = get_hub()
    subscription = await hub.subscribe(group)
    try:
        while True:
            try:
                message = await asyncio.wait_for(subscription.queue.get(), timeout=ping_interval)
            except TimeoutError:
                yield PING
                continue
            subscription.take_overflow()
            if message is CATCHUP or "event" not in message:
                continue
            observe_delay(message["data"])
            yield Item(
                type=message["event"], data=message["data"], seq=None, stream_id=message.get("stream_id")
            )
    finally:
        await hub.unsubscribe(subscription)


def parse_last_event_id(header: str | None, query: str | None) -> tuple[int | None, str | None]:
    """(value, error). The header wins; `?last_event_id=N` serves clients that cannot set headers.

    ASCII digits only (`str.isdigit` alone accepts superscripts and other scripts' digits), at most 18.
    """
    raw = header if header not in (None, "") else query
    if raw in (None, ""):
        return None, None
    assert raw is not None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_EVENT_ID_DIGITS):
        return None, f"Last-Event-ID must be a whole number of at most {MAX_EVENT_ID_DIGITS} digits."
    return int(raw), None


async def resume_is_finished(stream_id: ObjectId, last_event_id: int | None) -> bool:
    """True when a client resumes at or after the stream's final event: there is nothing more to send."""
    if last_event_id is None:
        return False
    latest = await _read(events.latest, stream_id)
    return bool(latest and latest["type"] == END_EVENT and last_event_id >= int(latest["seq"]))

