"""A small per-process cache of async lookups: entries live a few seconds, and callers asking for the same
key at the same moment share one lookup (1,000 viewers opening one job's stream make one read)."""

from __future__ import annotations

import asyncio
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
        self.generation = 0  # bumped by `clear`: a lookup started before it is not stored

    async def get(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
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
