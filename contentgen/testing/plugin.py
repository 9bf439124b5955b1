"""pytest plugin (loaded with `-p` before pytest-django reads settings): the embedded servers, once per run.

Given MONGODB_URI / REDIS_URL, the suite uses those instead. xdist workers inherit the
controller's environment, so every worker shares the one pair of servers.
"""

from __future__ import annotations

import os

from contentgen import embedded

os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", "0")

_services: embedded.Services | None = None
if not (os.environ.get("MONGODB_URI") and os.environ.get("REDIS_URL")):
    _services = embedded.start(ephemeral=True)
    os.environ.setdefault("MONGODB_URI", _services.mongodb_uri)
    os.environ.setdefault("REDIS_URL", _services.redis_url)


def pytest_unconfigure(config: object) -> None:
    if _services is not None:
        _services.stop()
