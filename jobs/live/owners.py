"""Who owns a streamed job or batch, for the lean ASGI path and the WebSocket: one read of the owner by
`_id`, cached per process (an owner never changes, so a stream opened again, or by 1,000 viewers at once,
reads nothing), and concurrent openings on different objects share one `$in` read.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from bson import ObjectId

from contentgen import mongo
from jobs.core.selectors import parse_id
from progress.ttlcache import Batcher, TtlCache

OWNER_TTL = 60.0
_owners: TtlCache[Any] = TtlCache(ttl=OWNER_TTL, size=50_000)


def _read_owners(collection: str, oids: list[ObjectId]) -> dict[ObjectId, Any]:
    return {
        doc["_id"]: doc.get("userId")
        for doc in mongo.collection(collection).find({"_id": {"$in": oids}}, {"userId": 1})
    }


def _owner_batcher(collection: str) -> Batcher[ObjectId, Any]:
    async def load(oids: list[ObjectId]) -> dict[ObjectId, Any]:
        return await sync_to_async(_read_owners, thread_sensitive=False)(collection, oids)

    return Batcher(load)


_batchers: dict[str, Batcher[ObjectId, Any]] = {}


async def owned(model: type[Any], *, user: Any, object_id: Any) -> ObjectId | None:
    """The id, when `user` owns that object (a job, a batch); None when it is missing, malformed or someone
    else's."""
    oid = parse_id(object_id)
    if oid is None or user is None:
        return None
    collection = model._meta.db_table
    if collection not in _batchers:
        _batchers[collection] = _owner_batcher(collection)
    owner = await _owners.get((collection, oid), lambda: _batchers[collection].get(oid))
    return oid if owner is not None and owner == user.pk else None
