"""Streaming a synchronous generator from an ASGI server without collecting it first."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

from asgiref.sync import sync_to_async

T = TypeVar("T")


def _next(items: Iterator[T]) -> tuple[bool, T | None]:
    for item in items:
        return True, item
    return False, None


async def iterate_in_threads(items: Iterator[T]) -> AsyncIterator[T]:
    """Django's ASGI handler turns a sync iterator into a list before sending a byte (the whole ZIP in
    memory); this pulls one item at a time in the thread pool instead."""
    step = sync_to_async(_next, thread_sensitive=False)
    while True:
        more, item = await step(items)
        if not more:
            return
        yield item  # type: ignore[misc]  # `more` means `item` is a T
