"""pytest plugin (loaded with `-p` before pytest-django reads settings): the embedded servers, once per run.

Given MONGODB_URI / REDIS_URL, the suite uses those instead. xdist workers inherit the
controller's environment, so every worker shares the one pair of servers; each worker gets its own
MongoDB database (pytest-django) and its own Redis database number, so that keys such as the live
worker registry are not shared between workers. (Pub/sub is server-wide, but every channel name
there carries an ObjectId or is a harmless wake-up.)
"""

from __future__ import annotations

import os
import re

from contentgen import embedded

os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", "0")

_services: embedded.Services | None = None
if not (os.environ.get("MONGODB_URI") and os.environ.get("REDIS_URL")):
    _services = embedded.start(ephemeral=True)
    os.environ.setdefault("MONGODB_URI", _services.mongodb_uri)
    os.environ.setdefault("REDIS_URL", _services.redis_url)


def _redis_db_per_worker() -> None:
    """gw0 uses Redis database 1, gw1 database 2, ... (a plain run keeps the URL's own)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    number = 1 + int(worker[2:]) % 15
    url = os.environ["REDIS_URL"]
    os.environ["REDIS_URL"] = re.sub(r"(redis://[^/?#]+)(/\d*)?(?=[?#]|$)", rf"\g<1>/{number}", url, count=1)


_redis_db_per_worker()


def pytest_unconfigure(config: object) -> None:
    if _services is not None:
        _services.stop()
