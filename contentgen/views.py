"""Operations endpoints: /healthz (alive) and /readyz (MongoDB and Redis reachable).

/metrics knows jobs, so it lives in jobs.metrics.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from contentgen import mongo

CHECK_TIMEOUT = 2.0


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _ping_mongodb() -> None:
    connection.ensure_connection()
    mongo.database().command("ping")


async def _ping_redis() -> None:
    client = aioredis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT
    )
    try:
        await client.ping()
    finally:
        await client.aclose()


async def readyz(request: HttpRequest) -> JsonResponse:
    reasons: dict[str, str] = {}
    try:
        await asyncio.wait_for(sync_to_async(_ping_mongodb, thread_sensitive=False)(), timeout=CHECK_TIMEOUT)
    except Exception as exc:
        reasons["mongodb"] = f"MongoDB is not reachable: {exc.__class__.__name__}: {exc}"[:300]
    try:
        await asyncio.wait_for(_ping_redis(), timeout=CHECK_TIMEOUT + 0.5)
    except Exception as exc:
        reasons["redis"] = f"Redis is not reachable: {exc.__class__.__name__}: {exc}"[:300]
    if reasons:
        return JsonResponse({"status": "unavailable", "reasons": reasons}, status=503)
    return JsonResponse({"status": "ready"})
