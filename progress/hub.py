"""In-process fan-out: one Redis subscription per group per process, however many viewers.

A subscription per connection does not scale to 1,000 viewers of one job (docs/measurements.md); here each
group (`job_<id>`, `bulk_<id>`, `user_<id>`) is one channel on the hub's own pub/sub connection, the only
one in the process, and every message is decoded once and handed, as one shared `Pushed` object, to the
bounded buffer of every local viewer. Encodings made from it (the SSE frame, the WebSocket text, a page's
HTML fragment) are cached on it, so an event is encoded once per process, not once per viewer. A viewer
that falls behind is marked overflowed and resumes from the event log: a slow client costs BUFFER messages.

Subscribing writes SUBSCRIBE and waits for Redis to confirm it, holding no lock: streams opening on
distinct jobs share the connection's round trips instead of queueing behind each other.

The channels and the message format are those of channels-redis' pub/sub layer (the project's layer), so
`group_send` from anywhere reaches these viewers. A supervisor pings Redis; while it is unreachable the hub
is `degraded` and streams read the event log every few seconds instead. When Redis is back the hub
resubscribes and every viewer gets a CATCHUP marker and one log read.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any, cast

import redis
import redis.asyncio as aioredis
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from contentgen.metrics import CHANNEL_LAYER_ERRORS
from progress.layer import sync_client

logger = logging.getLogger(__name__)

BUFFER = 64
# Always subscribed, so the reader blocks on the socket instead of polling while no stream is open. It also
# carries notices for every web process (JSON objects), passed to the functions in NOTICE_HANDLERS.
HUB_CHANNEL = "contentgen:hub"
NOTICE_HANDLERS: list[Callable[[dict[str, Any]], None]] = []
HEALTH_INTERVAL = 2.0
SUBSCRIBE_TIMEOUT = 3.0
READ_TIMEOUT = 1.0


_UNPARSED = object()


class Pushed(dict[str, Any]):
    """A message as published (type, scope, stream_id, seq, event, data), shared by every local viewer.

    `cache` holds what has been made from it once for all of them (frames, fragments)."""

    __slots__ = ("_created", "cache")

    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__(message)
        self.cache: dict[Any, Any] = {}
        self._created: Any = _UNPARSED

    def created(self) -> float | None:
        """When the event was made (epoch seconds), parsed once for every viewer of this process."""
        if self._created is _UNPARSED:
            self._created = _epoch(self.get("data"))
        return cast(float | None, self._created)


def _epoch(data: Any) -> float | None:
    stamp = data.get("timestamp") if isinstance(data, dict) else None
    if not isinstance(stamp, str):
        return None
    try:
        created = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return created.timestamp() if created.tzinfo is not None else None


CATCHUP = Pushed({"type": "catchup"})
# Offered by the hub's ticker to a stream that has had nothing for almost a ping interval (its cue to send
# `: ping`), and to every stream every DEGRADED_POLL seconds while Redis is away (its cue to read the
# log). Streams wait on their buffer alone: no timer per stream and per event.
TICK = Pushed({"type": "tick"})
PING_SECONDS = float(settings.CONTENTGEN_SSE_PING_SECONDS)
TICK_SECONDS = min(1.0, PING_SECONDS / 3)
DEGRADED_POLL = 3.0


class Subscription:
    def __init__(self, group: str) -> None:
        self.group = group
        self.queue: asyncio.Queue[Pushed] = asyncio.Queue(maxsize=BUFFER)
        self.overflowed = False
        self.offered = time.monotonic()
        self.ping_after = PING_SECONDS - TICK_SECONDS  # idle this long: cue a ping

    def offer(self, message: Pushed) -> None:
        self.offered = time.monotonic()
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True

    def take_overflow(self) -> bool:
        """True once after the buffer overflowed; the buffer is emptied, the log will fill the gap."""
        overflowed, self.overflowed = self.overflowed, False
        while overflowed and not self.queue.empty():
            self.queue.get_nowait()
        return overflowed


class GroupFeed:
    """One subscribed group. `latest` holds, per stream, the newest event known since the subscription was
    confirmed (pushed, or read from the log after that): a stream opening on a live feed starts from it
    without reading the log, and misses nothing, because it joined the feed first."""

    def __init__(self, group: str, channel: str, ready: asyncio.Future[None]) -> None:
        self.group = group
        self.channel = channel
        self.ready = ready
        self.confirmed_at: float | None = None
        self.subscribers: set[Subscription] = set()
        self.latest: dict[str, Pushed] = {}

    def broadcast(self, message: Pushed) -> None:
        self.note(message)
        for subscriber in list(self.subscribers):
            subscriber.offer(message)

    def note(self, message: Pushed) -> None:
        stream = message.get("stream_id")
        if stream is None or "seq" not in message:
            return
        known = self.latest.get(stream)
        if known is None or int(message["seq"]) > int(known["seq"]):
            self.latest[stream] = message

    def confirm(self) -> None:
        if not self.ready.done():
            self.confirmed_at = time.monotonic()
            self.ready.set_result(None)


class Hub:
    def __init__(self) -> None:
        layer = get_channel_layer()
        if not isinstance(layer, RedisPubSubChannelLayer):
            raise RuntimeError(
                "progress.hub reads the channels of channels_redis.pubsub.RedisPubSubChannelLayer"
            )
        self.layer = layer
        self.feeds: dict[str, GroupFeed] = {}
        self.by_channel: dict[str, GroupFeed] = {}
        self.degraded = False
        self.received = 0
        self._unconfirmed: dict[str, int] = {}
        self._client: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()

    def channel_name(self, group: str) -> str:
        return str(self.layer._get_group_channel_name(group))

    # Viewers -------------------------------------------------------------------------------------

    async def subscribe(self, group: str) -> Subscription:
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="hub-supervisor")
            self._ticker = asyncio.create_task(self._tick(), name="hub-ticker")
        if self._pubsub is None and not self.degraded:
            await self._connect()
        subscription = Subscription(group)
        feed = self.feeds.get(group)
        if feed is None:
            feed = GroupFeed(group, self.channel_name(group), asyncio.get_running_loop().create_future())
            self.feeds[group] = self.by_channel[feed.channel] = feed
            await self._send("subscribe", feed.channel)
        feed.subscribers.add(subscription)
        if not feed.ready.done() and self._pubsub is not None:
            try:
                await asyncio.wait_for(asyncio.shield(feed.ready), timeout=SUBSCRIBE_TIMEOUT)
            except TimeoutError:
                CHANNEL_LAYER_ERRORS.labels("group_add").inc()
                logger.warning("Redis did not confirm the subscription to %s: reading the log instead", group)
                self.mark_degraded()
            except BaseException:
                await self.unsubscribe(subscription)  # the stream went away while subscribing
                raise
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        feed = self.feeds.get(subscription.group)
        if feed is None:
            return
        feed.subscribers.discard(subscription)
        if not feed.subscribers:
            del self.feeds[feed.group]
            self.by_channel.pop(feed.channel, None)
            await self._send("unsubscribe", feed.channel)

    def latest(self, group: str, stream_id: str) -> Pushed | None:
        """The newest event of `stream_id` this process knows for sure, or None (then read the log)."""
        feed = self.feeds.get(group)
        if feed is None or self.degraded or feed.confirmed_at is None:
            return None
        return feed.latest.get(stream_id)

    def remember(self, group: str, message: Pushed, *, read_since: float) -> None:
        """A log read that started at `read_since`: it is the latest if the feed was live before it began."""
        feed = self.feeds.get(group)
        if (
            feed is not None
            and not self.degraded
            and feed.confirmed_at is not None
            and read_since >= feed.confirmed_at
        ):
            feed.note(message)

    def viewers(self) -> int:
        return sum(len(feed.subscribers) for feed in self.feeds.values())

    def mark_degraded(self) -> None:
        if not self.degraded:
            logger.warning("Redis unreachable: live streams fall back to reading the event log")
        self.degraded = True

    # The connection ------------------------------------------------------------------------------

    async def _send(self, command: str, *channels: str) -> None:
        pubsub = self._pubsub
        if pubsub is None or not channels:
            return  # degraded: the supervisor subscribes every feed when Redis is back
        if command == "subscribe":
            for channel in channels:
                self._unconfirmed[channel] = self._unconfirmed.get(channel, 0) + 1
        try:
            await getattr(pubsub, command)(*channels)
        except Exception as exc:
            if command == "subscribe":
                CHANNEL_LAYER_ERRORS.labels("group_add").inc()
            logger.warning("%s failed: %s", command, exc)
            await self._drop()

    async def _connect(self) -> bool:
        async with self._connecting:
            if self._pubsub is not None:
                return True
            client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=SUBSCRIBE_TIMEOUT)
            try:
                await asyncio.wait_for(client.ping(), timeout=SUBSCRIBE_TIMEOUT)
            except Exception as exc:
                logger.warning("Redis unreachable (%s): live streams read the event log", exc)
                with contextlib.suppress(Exception):
                    await client.aclose()
                self.mark_degraded()
                return False
            self._client, self._pubsub, self._unconfirmed = client, client.pubsub(), {}
            self._reader = asyncio.create_task(self._read(self._pubsub), name="hub-reader")
            for feed in self.feeds.values():
                feed.latest.clear()  # pushes may have been lost while the connection was down
                feed.confirmed_at = None
                if feed.ready.done():
                    feed.ready = asyncio.get_running_loop().create_future()
            await self._send("subscribe", HUB_CHANNEL, *self.by_channel)
            return True

    async def _drop(self) -> None:
        """Forget the connection (Redis went away); the supervisor makes a new one."""
        pubsub, client, reader = self._pubsub, self._client, self._reader
        self._pubsub = self._client = self._reader = None
        self.mark_degraded()
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        for closing in (pubsub, client):
            if closing is not None:
                with contextlib.suppress(Exception):
                    await closing.aclose()

    async def _read(self, pubsub: Any) -> None:
        deserialize = self.layer.deserialize
        while True:
            try:
                if not pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await pubsub.get_message(ignore_subscribe_messages=False, timeout=READ_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                CHANNEL_LAYER_ERRORS.labels("receive").inc()
                logger.warning("reading from Redis failed: %s", exc)
                await self._drop()
                return
            if message is None:
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            kind = message["type"]
            if kind == "message" and channel == HUB_CHANNEL:
                _notice(message["data"])
            elif kind == "message":
                feed = self.by_channel.get(channel)
                if feed is not None:
                    self.received += 1
                    feed.broadcast(Pushed(deserialize(message["data"])))
            elif kind == "subscribe":
                left = self._unconfirmed.get(channel, 0) - 1
                if left > 0:
                    self._unconfirmed[channel] = left
                    continue
                self._unconfirmed.pop(channel, None)
                feed = self.by_channel.get(channel)
                if feed is not None:
                    feed.confirm()

    async def _tick(self) -> None:
        polled = time.monotonic()
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            poll = self.degraded and now - polled >= DEGRADED_POLL
            if poll:
                polled = now
            for feed in list(self.feeds.values()):
                for subscriber in list(feed.subscribers):
                    if poll or now - subscriber.offered >= subscriber.ping_after:
                        subscriber.offer(TICK)

    async def _supervise(self) -> None:
        probe = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=HEALTH_INTERVAL, socket_connect_timeout=HEALTH_INTERVAL
        )
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            try:
                await probe.ping()
                healthy = True
            except Exception:
                healthy = False
            if not healthy:
                if self._pubsub is not None:
                    await self._drop()
                self.mark_degraded()
            elif (
                (self.degraded or self._pubsub is None) and await self._connect() and await self._confirmed()
            ):
                logger.info("Redis is back: live streams return to push")
                self.degraded = False
                for feed in list(self.feeds.values()):
                    feed.broadcast(CATCHUP)

    async def _recovered(self) -> bool:
        return await self._connect() and await self._confirmed()

    async def _confirmed(self) -> bool:
        pending = [feed.ready for feed in self.feeds.values() if not feed.ready.done()]
        if not pending:
            return True
        done, _ = await asyncio.wait([asyncio.shield(f) for f in pending], timeout=SUBSCRIBE_TIMEOUT)
        return len(done) == len(pending)


def _notice(data: bytes) -> None:
    try:
        notice = json.loads(data)
    except ValueError:
        return
    for handle in NOTICE_HANDLERS:
        try:
            handle(notice)
        except Exception:
            logger.exception("a hub notice handler failed")


def tell_every_process(notice: dict[str, Any]) -> None:
    """Publish a notice to every web process's hub (from sync code; best effort)."""
    try:
        sync_client().publish(HUB_CHANNEL, json.dumps(notice))
    except redis.RedisError as exc:
        logger.warning("could not tell the other web processes: %s", exc)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub
