"""Operations endpoints: /healthz (alive) and /readyz (MongoDB and Redis reachable).

/metrics knows jobs, so it lives in jobs.ops.metrics.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

import contentgen
from contentgen import mongo

CHECK_TIMEOUT = 2.0
logger = logging.getLogger("contentgen.readyz")


def healthz(request: HttpRequest) -> JsonResponse:
    # The one version (contentgen.__version__), in the body and in a header a load balancer can log.
    response = JsonResponse({"status": "ok", "version": contentgen.__version__})
    response["X-Contentgen-Version"] = contentgen.__version__
    return response


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


async def _reason(service: str, check: Any, timeout: float) -> str | None:
    """None when `check` succeeds, else a stable code; the exception (hosts, topology) is only logged."""
    try:
        await asyncio.wait_for(check, timeout=timeout)
    except TimeoutError:
        logger.warning("readyz: %s did not answer within %.1f s", service, timeout)
        return "timeout"
    except Exception:
        logger.warning("readyz: %s is unreachable", service, exc_info=True)
        return "unreachable"
    return None


async def readyz(request: HttpRequest) -> JsonResponse:
    """200 {"status": "ready"}, or 503 {"status": "unavailable", "reasons": {"mongodb": "unreachable"}}
    with a code (`unreachable`, `timeout`) per failing service, nothing more, for any caller."""
    checks = {
        "mongodb": (sync_to_async(_ping_mongodb, thread_sensitive=False)(), CHECK_TIMEOUT),
        "redis": (_ping_redis(), CHECK_TIMEOUT + 0.5),
    }
    reasons = {}
    for service, (check, timeout) in checks.items():
        reason = await _reason(service, check, timeout)
        if reason:
            reasons[service] = reason
    if reasons:
        return JsonResponse({"status": "unavailable", "reasons": reasons}, status=503)
    return JsonResponse({"status": "ready"})
