"""The job and batch streams on the lean ASGI path (progress.asgi): their URLs, ownership and encodings.

The URLs are the same as jobs.urls and jobs.page_urls give (the Django views there answer them for
anything that goes through Django). Ownership is one read of the document's owner by `_id`, the
index SecantusDB answers in a fraction of a millisecond, cached briefly per process: an object's owner
never changes, so a stream opened again, or by 1,000 viewers at once, reads nothing.
"""

from __future__ import annotations

import re
from typing import Any

from asgiref.sync import sync_to_async
from bson import ObjectId

from contentgen import mongo
from jobs.core.events import bulk_group, job_group, user_group
from jobs.core.selectors import parse_id
from jobs.live.views import html_frames
from jobs.models import BulkJob, GenerationJob
from progress.asgi import SseRoute
from progress.sse import sse_frame
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


# Streams opening at once on different jobs share one `$in` read of their owners.
_batchers = {model._meta.db_table: _owner_batcher(model._meta.db_table) for model in (GenerationJob, BulkJob)}


async def owned(model: type[Any], *, user: Any, object_id: Any) -> ObjectId | None:
    """The id, when `user` owns that job or batch; None when it is missing, malformed or someone else's."""
    oid = parse_id(object_id)
    if oid is None or user is None:
        return None
    collection = model._meta.db_table
    owner = await _owners.get((collection, oid), lambda: _batchers[collection].get(oid))
    return oid if owner is not None and owner == user.pk else None


async def _job(user: Any, params: dict[str, str]) -> ObjectId | None:
    return await owned(GenerationJob, user=user, object_id=params["id"])


async def _bulk(user: Any, params: dict[str, str]) -> ObjectId | None:
    return await owned(BulkJob, user=user, object_id=params["id"])


async def _nothing(user: Any, params: dict[str, str]) -> None:
    return None


def stream_routes() -> list[SseRoute]:
    def pattern(path: str) -> re.Pattern[str]:
        return re.compile(path.replace("<id>", "(?P<id>[^/]+)"))

    def job(_user: Any, pk: Any) -> str:
        return job_group(pk)

    def bulk(_user: Any, pk: Any) -> str:
        return bulk_group(pk)

    def user(user: Any, _pk: Any) -> str:
        return user_group(user.pk)

    # (path, locate, group, encode, token accepted, live only)
    table: list[tuple[str, Any, Any, Any, bool, bool]] = [
        ("/api/jobs/<id>/progress", _job, job, sse_frame, True, False),
        ("/api/bulk-jobs/<id>/progress", _bulk, bulk, sse_frame, True, False),
        ("/jobs/<id>/live", _job, job, html_frames("job"), False, False),
        ("/bulk/<id>/live", _bulk, bulk, html_frames("bulk"), False, False),
        ("/live", _nothing, user, html_frames("dashboard"), False, True),
    ]
    return [
        SseRoute(pattern(path), locate, group, encode, token, live_only)
        for path, locate, group, encode, token, live_only in table
    ]
