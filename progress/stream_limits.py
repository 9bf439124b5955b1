"""Caps on open progress streams: per user across all web processes (Redis), and per process (in memory).

The per-user cap is counted in Redis because a user's streams land on any process behind the load
balancer; each stream holds a slot that it refreshes while open, so a process that dies frees its slots
within SLOT_TTL. The per-process cap protects that process's own memory, so it is counted where it
lives: the hub's subscriptions, one per open stream.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from contentgen import ratelimit
from progress.hub import get_hub
from progress.streams import PING_INTERVAL, Item

SLOT_TTL = max(60.0, 4 * PING_INTERVAL)
RETRY_AFTER = 5


@dataclass
class StreamSlot:
    user_key: str
    slot: str = field(default_factory=lambda: uuid.uuid4().hex)
    refreshed: float = field(default_factory=time.monotonic)
    released: bool = False

    async def refresh_if_due(self) -> None:
        if time.monotonic() - self.refreshed >= SLOT_TTL / 3:
            self.refreshed = time.monotonic()
            await sync_to_async(ratelimit.refresh_slot, thread_sensitive=False)(
                self.user_key, self.slot, ttl=SLOT_TTL
            )

    def release(self) -> None:
        """Synchronous and safe to call from a `finally` while the task is being cancelled."""
        if self.released:
            return
        self.released = True
        asyncio.get_running_loop().run_in_executor(None, ratelimit.release_slot, self.user_key, self.slot)


class TooManyStreams(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def acquire(user: Any) -> StreamSlot:
    """A slot for one more stream of `user`, or TooManyStreams saying which cap was reached."""
    process_cap = int(settings.CONTENTGEN_MAX_STREAMS_PER_PROCESS)
    if process_cap and get_hub().viewers() >= process_cap:
        raise TooManyStreams("This server has too many open progress streams. Try again shortly.")
    per_user = int(settings.CONTENTGEN_MAX_STREAMS_PER_USER)
    slot = StreamSlot(user_key=f"streams:{user.pk}")
    acquired = await sync_to_async(ratelimit.acquire_slot, thread_sensitive=False)(
        slot.user_key, slot.slot, limit=per_user, ttl=SLOT_TTL
    )
    if not acquired:
        raise TooManyStreams(
            f"You have {per_user} progress streams open, the most allowed. Close some pages or connections."
        )
    return slot


async def held(items: AsyncIterator[Item], slot: StreamSlot) -> AsyncIterator[Item]:
    """`items`, keeping `slot` fresh while the stream is open and releasing it when it ends."""
    try:
        async for item in items:
            await slot.refresh_if_due()
            yield item
    finally:
        slot.release()
