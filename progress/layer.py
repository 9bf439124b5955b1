"""Sending to the channel layer from synchronous code (worker threads, sync views).

One event loop thread per process owns the layer's Redis connections, and a single queue keeps
group_send calls in the order they were made, so a job's events leave the process in seq order.
A Redis outage costs only the push: the event is already in the log, and streams catch up from it.

With the pub/sub layer, whatever is queued goes out as one Redis pipeline of PUBLISH commands, in
order, to the channels and in the format the layer's own group_send uses: one round trip for many
events, where group_send makes one each behind the layer's per-connection lock.

The same pipeline leaves a hint per stream: `contentgen:seq:<stream id>` holds a seq its log has
reached (set after the event was stored, so never above the log's last). A stream opening on a job with a
long log reads its latest event from there instead of reading the whole log (progress.events.latest_many).
A hint may be lower than the last seq (two processes pushing one stream) or missing (expired, Redis
restarted): either only costs a longer read.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import threading
import time
from typing import Any

import redis
import redis.asyncio as aioredis
from bson import ObjectId
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from contentgen.metrics import CHANNEL_LAYER_ERRORS

logger = logging.getLogger(__name__)


PIPELINE_MAX = 500
SEQ_HINT_PREFIX = "contentgen:seq:"
SEQ_HINT_SECONDS = 24 * 3600  # a day: streams of older jobs read their log instead


def seq_hint_key(stream_id: object) -> str:
    return f"{SEQ_HINT_PREFIX}{stream_id}"


def _hints(batch: list[tuple[str, dict[str, Any]]]) -> dict[str, int]:
    """The highest seq each stream reaches in `batch` (an event goes to several groups)."""
    found: dict[str, int] = {}
    for _group, message in batch:
        stream_id, seq = message.get("stream_id"), message.get("seq")
        if stream_id is not None and isinstance(seq, int):
            found[stream_id] = max(seq, found.get(stream_id, 0))
    return found


class LayerSender:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] | None = None
        self._ready = threading.Event()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="channel-layer-sender", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._queue = asyncio.Queue()
        self._ready.set()
        self._loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        assert self._queue is not None
        layer = get_channel_layer()
        pubsub = isinstance(layer, RedisPubSubChannelLayer)
        client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
        while True:
            items = [await self._queue.get()]
            while not self._queue.empty() and len(items) < PIPELINE_MAX:
                items.append(self._queue.get_nowait())
            stop = None in items
            batch = [item for item in items if item is not None]
            try:
                pipe = client.pipeline(transaction=False)
                if pubsub:
                    for group, message in batch:
                        pipe.publish(layer._get_group_channel_name(group), layer.serialize(message))
                else:
                    for group, message in batch:
                        await asyncio.wait_for(layer.group_send(group, message), timeout=5)
                for stream_id, seq in _hints(batch).items():
                    pipe.set(seq_hint_key(stream_id), seq, ex=SEQ_HINT_SECONDS)
                if batch:
                    await asyncio.wait_for(pipe.execute(), timeout=5)
            except Exception as exc:  # the events are in the log already; streams will catch up
                CHANNEL_LAYER_ERRORS.labels("group_send").inc(len(batch))
                logger.warning("pushing %d event(s) failed: %s", len(batch), exc)
            finally:
                with self._lock:
                    self._pending -= len(batch)
            if stop:
                return

    def send(self, group: str, message: dict[str, Any]) -> None:
        assert self._queue is not None
        with self._lock:
            self._pending += 1
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (group, message))

    def flush(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._pending <= 0:
                    return True
            time.sleep(0.01)
        return False


def seq_hints(stream_ids: list[ObjectId]) -> dict[ObjectId, int]:
    """The hinted seqs of these streams (see the module's docstring); {} when Redis does not answer."""
    if not stream_ids:
        return {}
    try:
        values = sync_client().mget([seq_hint_key(stream_id) for stream_id in stream_ids])
    except redis.RedisError:
        return {}
    return {stream_id: int(value) for stream_id, value in zip(stream_ids, values, strict=True) if value}


@functools.cache
def sync_client() -> redis.Redis:
    """The process's synchronous Redis client for short calls (hints, hub notices): 1 s timeouts."""
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


_sender: LayerSender | None = None
_sender_lock = threading.Lock()


def sender() -> LayerSender:
    global _sender
    with _sender_lock:
        if _sender is None:
            _sender = LayerSender()
            atexit.register(_sender.flush)
        return _sender
