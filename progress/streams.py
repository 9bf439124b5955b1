"""One job's or batch's events as an async iterator: replay from the log, then live, no gap, no duplicate.

Subscribe first, then read the log, then pass live events on keeping only seq > last sent: an event
that lands while the replay runs is either in the replay or in the buffer, and never sent twice. A
seq jump (a lost push, an overflowed buffer, Redis coming back) triggers one catch-up read of the
log. Those and the first read are the only database reads while a stream is healthy.

Opening is its own step (`open_stream`), so that a server can answer 204 before it sends any header
when a client resumes at or after the final event, with the same one read that starts the stream:
without Last-Event-ID the latest event; with it, the events after it (and the latest only when there
are none, to tell "caught up" from "finished").
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

from contentgen.metrics import EVENT_SEND_DELAY
from progress import events
from progress.hub import CATCHUP, TICK, TICK_SECONDS, Hub, Pushed, Subscription, get_hub
from progress.layer import seq_hints
from progress.ttlcache import Batcher

PING_INTERVAL = float(settings.CONTENTGEN_SSE_PING_SECONDS)
END_EVENT = "complete"  # the event type after which a stream ends
# Replay and catch-up read the log this many events at a time: a stream never holds a whole long log.
REPLAY_CHUNK = 200
MAX_EVENT_ID_DIGITS = 18  # below 2**63: every id fits MongoDB's int64


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
# The hub offers a tick once a subscription has been idle for `ping_after` (the interval less one tick),
# counted from when the subscription was made, a little before the stream's own clock starts. Without a
# second tick of slack, a tick landing in between was let pass and the next came a whole interval later:
# pings 28 s apart instead of at most 15.
PING_SLACK = 2 * TICK_SECONDS

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


def _read_latest(stream_ids: list[ObjectId], hinted: bool) -> dict[ObjectId, dict[str, Any]]:
    return events.latest_many(stream_ids, hints=seq_hints(stream_ids) if hinted else None)


async def _latest_many(stream_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    """Read with the pushes' seq hints (progress.layer), unless Redis is away."""
    hinted = not get_hub().degraded
    return await sync_to_async(_read_latest, thread_sensitive=False)(stream_ids, hinted)


# Streams opening at the same moment on different jobs share reads of their latest events. A batch's
# query starts after every request in it was made, so after each of those streams had subscribed.
# Batches of 10: a short log is read whole (the latest is picked here), so a key costs more than an
# owner's read.
_latest: Batcher[ObjectId, dict[str, Any]] = Batcher(_latest_many, max_batch=10)


async def _read(function: Callable[..., Any], *args: Any, since: float) -> Any:
    """Event-log reads run in the thread pool, in parallel across streams (pymongo is thread-safe).

    Streams that ask the same question share one read, provided it started after `since` (when their
    subscription was confirmed): 1,000 viewers opening one job's stream make one read, not 1,000, and
    none can miss an event published between a shared read and its own subscription."""
    key = (id(asyncio.get_running_loop()), function.__name__, *args)
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


def observe_delay(message: Pushed) -> None:
    """Creation-to-send delay of a live event (the replay on connect is old on purpose: not counted).
    The event's timestamp is parsed once per process, on the shared message; observed per send."""
    created = message.created()
    if created is not None:
        EVENT_SEND_DELAY.observe(max(0.0, time.time() - created))


def _item(doc: dict[str, Any]) -> Item:
    stream_id, seq = str(doc["job_id"]), int(doc["seq"])
    return Item(
        type=doc["type"], data=doc["data"], seq=seq, stream_id=stream_id, cache=event_cache(stream_id, seq)
    )


def _pushed_item(message: Pushed) -> Item:
    stream_id, seq = str(message["stream_id"]), int(message["seq"])
    cache = event_cache(stream_id, seq, message.cache)
    return Item(type=message["event"], data=message["data"], seq=seq, stream_id=stream_id, cache=cache)


def _after(stream_id: ObjectId, seq: int) -> list[dict[str, Any]]:
    return events.after(stream_id, seq, limit=REPLAY_CHUNK)


@dataclass
class Stream:
    """An opened stream: subscribed, with the first events read. `items()` goes on from there."""

    hub: Hub
    subscription: Subscription
    stream_id: ObjectId
    last: int  # the last seq sent (or taken as seen: the client's Last-Event-ID)
    backlog: list[Item]
    more: bool  # the backlog filled a whole chunk: read on before going live
    ping_interval: float = PING_INTERVAL
    closed: bool = False

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.hub.unsubscribe(self.subscription)

    async def _replay(self) -> AsyncIterator[Item]:
        """Every stored event after `last`, read REPLAY_CHUNK at a time."""
        while True:
            docs = await _read(_after, self.stream_id, self.last, since=time.monotonic())
            for doc in docs:
                yield _item(doc)
            if len(docs) < REPLAY_CHUNK:
                return

    async def items(self) -> AsyncIterator[Item]:
        """The events from the backlog on, pings while idle; ends after `complete`. Closes the stream."""
        hub, subscription, stream_key = self.hub, self.subscription, str(self.stream_id)
        try:
            source: AsyncIterator[Item] | None = (
                _chained(_listed(self.backlog), self._replay()) if self.more else _listed(self.backlog)
            )
            last_sent = time.monotonic()
            while True:
                if source is not None:
                    async for item in source:
                        if item.seq is not None and item.seq <= self.last:
                            continue
                        self.last = max(self.last, item.seq or 0)
                        last_sent = time.monotonic()
                        yield item
                        if item.type == END_EVENT:
                            return
                    source = None
                message = await subscription.queue.get()
                if message is TICK:
                    if time.monotonic() - last_sent >= self.ping_interval - PING_SLACK:
                        last_sent = time.monotonic()
                        yield PING
                    if hub.degraded:
                        source = self._replay()  # Redis is away: read the log instead of waiting for pushes
                elif subscription.take_overflow() or message is CATCHUP:
                    source = self._replay()
                elif message.get("stream_id") != stream_key or int(message["seq"]) <= self.last:
                    continue
                elif int(message["seq"]) == self.last + 1:
                    # The next event, pushed: sent straight on, as the one Item every local viewer shares.
                    shared: Item | None = message.cache.get(Item)
                    if shared is None:
                        shared = message.cache[Item] = _pushed_item(message)
                    self.last, last_sent = shared.seq or self.last, time.monotonic()
                    observe_delay(message)
                    yield shared
                    if shared.type == END_EVENT:
                        return
                else:
                    source = self._replay()
        finally:
            await self.close()


async def open_stream(
    *, stream_id: ObjectId, group: str, last_event_id: int | None, ping_interval: float = PING_INTERVAL
) -> Stream | None:
    """Subscribe, then read where the stream starts. None (and unsubscribed) when the client resumes at or
    after the final event: there is nothing more to send. An id beyond the log's end (a stale or forged
    header) means caught up at the log's last event."""
    hub = get_hub()
    subscription = await hub.subscribe(group)
    subscription.ping_after = max(0.0, ping_interval - TICK_SECONDS)
    since, stream_key = time.monotonic(), str(stream_id)

    def stream(last: int, backlog: list[Item], more: bool = False) -> Stream:
        return Stream(hub, subscription, stream_id, last, backlog, more, ping_interval)

    async def read_latest() -> Pushed | None:
        doc = await _latest.get(stream_id)
        if doc is None:
            return None
        message = Pushed(
            {"stream_id": stream_key, "seq": int(doc["seq"]), "event": doc["type"], "data": doc["data"]}
        )
        hub.remember(group, message, read_since=since)
        return message

    try:
        known = hub.latest(group, stream_key)
        if last_event_id is None:
            known = known or await read_latest()
            return stream(0, [_pushed_item(known)] if known is not None else [])
        if known is None or last_event_id < int(known["seq"]):
            docs = await _read(_after, stream_id, last_event_id, since=since)
            if docs:
                return stream(last_event_id, [_item(doc) for doc in docs], len(docs) >= REPLAY_CHUNK)
            known = known or await read_latest()
        if known is None:
            return stream(0, [])
        if last_event_id < int(known["seq"]):  # the push ran ahead of the log read: read on in items()
            return stream(last_event_id, [], more=True)
        if known["event"] == END_EVENT:
            await hub.unsubscribe(subscription)
            return None
        return stream(int(known["seq"]), [])
    except BaseException:
        await hub.unsubscribe(subscription)
        raise


async def follow(
    *, stream_id: ObjectId, group: str, last_event_id: int | None, ping_interval: float = PING_INTERVAL
) -> AsyncIterator[Item]:
    """`open_stream` and its items in one iterator (nothing at all when resuming after the end)."""
    stream = await open_stream(
        stream_id=stream_id, group=group, last_event_id=last_event_id, ping_interval=ping_interval
    )
    if stream is None:
        return
    async for item in stream.items():
        yield item


async def _listed(items: list[Item]) -> AsyncIterator[Item]:
    for item in items:
        yield item


async def _chained(*sources: AsyncIterator[Item]) -> AsyncIterator[Item]:
    for source in sources:
        async for item in source:
            yield item


async def follow_group(*, group: str, ping_interval: float = PING_INTERVAL) -> AsyncIterator[Item]:
    """Every event pushed to a group (a user's dashboard): live only, no ids to resume from."""
    hub = get_hub()
    subscription = await hub.subscribe(group)
    subscription.ping_after = max(0.0, ping_interval - TICK_SECONDS)
    last_sent = time.monotonic()
    try:
        while True:
            message = await subscription.queue.get()
            if message is TICK:
                if time.monotonic() - last_sent >= ping_interval - PING_SLACK:
                    last_sent = time.monotonic()
                    yield PING
                continue
            subscription.take_overflow()
            if message is CATCHUP or "event" not in message:
                continue
            last_sent = time.monotonic()
            observe_delay(message)
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


Render = Callable[[Item], str]
