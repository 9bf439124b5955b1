"""Process environment crewAI needs before its first import."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_DIR = Path(__file__).resolve().parents[2]


def var_dir() -> Path:
    return Path(os.environ.get("CONTENTGEN_VAR_DIR") or _REPO_DIR / "var")


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
