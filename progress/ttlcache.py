"""A small per-process cache of async lookups: entries live a few seconds, and callers asking for the same
key at the same moment share one lookup (1,000 viewers opening one job's stream make one read)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(self, *, ttl: float, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._inflight: dict[Hashable, asyncio.Future[V]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.generation = 0  # bumped by `clear`: a lookup started before it is not stored

    async def get(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # futures belong to one event loop
            self._loop, self._inflight = loop, {}
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        generation = self.generation
        future: asyncio.Future[V] = asyncio.ensure_future(load())
        self._inflight[key] = future
        try:
            value = await asyncio.shield(future)
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
        if generation == self.generation:
            self._entries[key] = (time.monotonic() + self.ttl, value)
            self._entries.move_to_end(key)
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def drop(self, key: Hashable) -> None:
        self._entries.pop(key, None)
        self._inflight.pop(key, None)
        self.generation += 1

    def drop_where(self, predicate: Callable[[Hashable, V], bool]) -> None:
        for key, (_, value) in list(self._entries.items()):
            if predicate(key, value):
                self._entries.pop(key, None)
        self.generation += 1

    def clear(self) -> None:
        self._entries.clear()
        self._inflight.clear()
        self.generation += 1


K = TypeVar("K", bound=Hashable)


class Batcher(Generic[K, V]):
    """Lookups of many keys at once, made as one query: what arrives while a query runs goes in the next.

    1,000 streams opening on distinct jobs need 1,000 owners and 1,000 latest events, and one query per
    key costs the embedded server a millisecond of its own time each. Batches stay small: SecantusDB tests
    each document it reads against the whole `$in` list, so a query costs (documents x keys); batches of
    10-20 were the fastest (docs/measurements.md)."""

    def __init__(self, load: Callable[[list[K]], Awaitable[dict[K, V]]], *, max_batch: int = 20) -> None:
        self.load = load
        self.max_batch = max_batch
        self._pending: dict[K, asyncio.Future[V | None]] = {}
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # futures belong to one event loop
            self._loop, self._pending, self._running = loop, {}, False
        future = self._pending.get(key)
        if future is None:
            future = self._pending[key] = loop.create_future()
            if not self._running:
                self._running = True
                loop.call_soon(lambda: asyncio.ensure_future(self._drain()))
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        try:
            while self._pending:
                keys = list(self._pending)[: self.max_batch]
                futures = {key: self._pending.pop(key) for key in keys}
                try:
                    found = await self.load(keys)
                except Exception as exc:
                    for future in futures.values():
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for key, future in futures.items():
                    if not future.done():
                        future.set_result(found.get(key))
        finally:
            self._running = False


class Recent(Generic[K, V]):
    """`TtlCache` for synchronous callers (worker threads): values kept for `ttl` seconds after they were
    loaded, thread-safe, at most `size` (expired entries are dropped when it is reached)."""

    def __init__(self, *, ttl: float, size: int = 1000) -> None:
        self.ttl, self.size = ttl, size
        self._lock = threading.Lock()
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K, load: Callable[[], V]) -> V:
        with self._lock:
            cached = self._entries.get(key)
            if cached and time.monotonic() - cached[0] < self.ttl:
                return cached[1]
        value = load()
        with self._lock:
            if len(self._entries) >= self.size:
                now = time.monotonic()
                self._entries = {k: e for k, e in self._entries.items() if now - e[0] < self.ttl}
            self._entries[key] = (time.monotonic(), value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
