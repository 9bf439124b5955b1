"""Process environment crewAI needs before its first import."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import config

_REPO_DIR = Path(__file__).resolve().parents[2]


def var_dir() -> Path:
    return Path(config.get(config.VAR_DIR) or _REPO_DIR / "var")


def prepare_crewai_environment() -> None:
    """Disable telemetry/tracing and keep crewAI's files under ``var/``.

    Must run before ``crewai`` is imported: several of these are read at import time,
    and without them the interpreter hangs ~10 s at exit flushing telemetry or asks
    interactively whether to enable tracing.
    """
    os.environ["CREWAI_DISABLE_TELEMETRY"] = "true"
    os.environ["OTEL_SDK_DISABLED"] = "true"
    os.environ["CREWAI_TRACING_ENABLED"] = "false"
    os.environ.setdefault("CREWAI_DISABLE_VERSION_CHECK", "true")
    base = var_dir()
    storage = base / "crewai"
    data_home = base / "xdg-data"
    storage.mkdir(parents=True, exist_ok=True)
    data_home.mkdir(parents=True, exist_ok=True)
    # An absolute CREWAI_STORAGE_DIR wins over the appdirs base, so crewAI's db path lands here.
    os.environ["CREWAI_STORAGE_DIR"] = str(storage)
    os.environ["XDG_DATA_HOME"] = str(data_home)
    use_host_locks()


@contextmanager
def _host_lock(name: str, *, timeout: float = 120) -> Iterator[None]:
    import portalocker  # noqa: PLC0415 - crewAI's own dependency, loaded only with crewAI

    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
    with portalocker.Lock(str(var_dir() / "crewai" / f"{digest}.lock"), timeout=timeout):
        yield


def use_host_locks() -> None:
    """crewAI's locks guard its SQLite files under var/, which belong to this host: file locks.

    crewAI takes them in Redis whenever REDIS_URL is set, as it is in every contentgen process, so
    a Redis outage made each new crew fail to start. The channel layer's Redis has no business there.
    """
    from crewai_core import lock_store  # noqa: PLC0415 - imported after the environment above is set

    lock_store.set_lock_backend(_host_lock)
