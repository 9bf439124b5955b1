"""The one way to publish progress: append to the event log, then push to the channel layer groups."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

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
    """Log the event, then group_send it. Returns the event's seq. `data` must be JSON-ready."""
    seq = events.append(stream_id=stream_id, scope=scope, type=type, data=data, after=after)
    _push(stream_id=stream_id, scope=scope, type=type, data=data, groups=groups, seq=seq)
    return seq


def publish_many(entries: list[dict[str, Any]]) -> list[int]:
    """Several events in one write (a batch's first events): entries as `publish`'s keyword arguments,
    with `after` given. Pushed in order once all are stored. Returns their seqs."""
    seqs = events.append_many(entries)
    for entry, seq in zip(entries, seqs, strict=True):
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
    message = {
        "type": MESSAGE_TYPE,
        "scope": scope,
        "stream_id": str(stream_id),
        "seq": seq,
        "event": type,
        "data": data,
    }
    out = sender()
    for group in groups:
        out.send(group, message)
