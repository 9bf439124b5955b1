"""pytest plugin (loaded with `-p` before pytest-django reads settings): the embedded servers, once per run.

Given MONGODB_URI / REDIS_URL, the suite uses those instead. xdist workers inherit the
controller's environment, so every worker shares the one pair of servers; each worker gets its own
MongoDB database (pytest-django) and its own Redis database number, so that keys such as the live
worker registry are not shared between workers. Pub/sub is server-wide: tests name their own channels.

Each test process gets its own CONTENTGEN_VAR_DIR (crewAI's SQLite and lock files, embedded servers'
logs), set before anything reads it, so no two processes share those files and no test's directory
depends on the order the tests ran in.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "") or "main"
os.environ["CONTENTGEN_VAR_DIR"] = tempfile.mkdtemp(prefix=f"contentgen-test-{WORKER}-")
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", "0")

from contentgen import embedded  # noqa: E402 - reads CONTENTGEN_VAR_DIR at import
from contentgen.testing import ports  # noqa: E402

# Set in the environment when this run started its own servers: only then may tests flush Redis databases.
OWN_SERVERS_ENV = "CONTENTGEN_TEST_OWN_SERVERS"

_services: embedded.Services | None = None
if not (os.environ.get("MONGODB_URI") and os.environ.get("REDIS_URL")):
    _services = embedded.start(ephemeral=True, pick_port=ports.free_port)
    os.environ.setdefault("MONGODB_URI", _services.mongodb_uri)
    os.environ.setdefault("REDIS_URL", _services.redis_url)
    os.environ[OWN_SERVERS_ENV] = "1"


def owns_servers() -> bool:
    """True when the servers are this run's own (started by the controller or this process)."""
    return os.environ.get(OWN_SERVERS_ENV) == "1"


def _redis_db_per_worker() -> None:
    """gw0 uses Redis database 1, gw1 database 2, ... (a plain run keeps the URL's own)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return
    number = 1 + int(worker[2:]) % 15
    url = os.environ["REDIS_URL"]
    os.environ["REDIS_URL"] = re.sub(r"(redis://[^/?#]+)(/\d*)?(?=[?#]|$)", rf"\g<1>/{number}", url, count=1)


_redis_db_per_worker()
_passed = True


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    global _passed
    _passed = exitstatus == 0


def pytest_unconfigure(config: object) -> None:
    if _services is not None:
        _services.stop()
    var_dir = os.environ["CONTENTGEN_VAR_DIR"]
    if _passed:
        shutil.rmtree(var_dir, ignore_errors=True)
    else:
        print(f"\ncontentgen: this process's logs and crewAI files are kept in {var_dir}")
