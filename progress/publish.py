"""The one way to publish progress: append to the event log, then push to the channel layer groups."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from django.db import transaction

from contentgen.metrics import EVENTS_PUBLISHED
from progress import events
from progress.layer import sender

MESSAGE_TYPE = "progress.event"


def publish(
    *,
    stream_id: ObjectId,
    scope: str,
    type: str,
    data: dict[str, Any],
    groups: list[str],
    after: int | None = None,
) -> int:
    """Log the event, then group_send it. Returns the event's seq. `data` must be JSON-ready.

    Inside a transaction (contentgen.mongo.atomic) the push waits for the commit, so nobody is told
    of an event that a rollback takes back.
    """
    seq = events.append(stream_id=stream_id, scope=scope, type=type, data=data, after=after)
    EVENTS_PUBLISHED.labels(scope, type).inc()
    _push(stream_id=stream_id, scope=scope, type=type, data=data, groups=groups, seq=seq)
    return seq


def publish_many(entries: list[dict[str, Any]]) -> list[int]:
    """Several events in one write (a batch's first events): entries as `publish`'s keyword arguments,
    with `after` given. Pushed in order once all are stored (after the commit, inside a transaction).
    Returns their seqs."""
    seqs = events.append_many(entries)
    for entry, seq in zip(entries, seqs, strict=True):
        EVENTS_PUBLISHED.labels(entry["scope"], entry["type"]).inc()
        _push(
            stream_id=entry["stream_id"],
            scope=entry["scope"],
            type=entry["type"],
            data=entry["data"],
            groups=entry["groups"],
            seq=seq,
        )
    return seqs


def _push(
    *, stream_id: ObjectId, scope: str, type: str, data: dict[str, Any], groups: list[str], seq: int
) -> None:
    """group_send the stored event to `groups`; inside a transaction, once it commits."""
    message = {
        "type": MESSAGE_TYPE,
        "scope": scope,
        "stream_id": str(stream_id),
        "seq": seq,
        "event": type,
        "data": data,
    }

    def push() -> None:
        out = sender()
        for group in groups:
            out.send(group, message)

    transaction.on_commit(push)
