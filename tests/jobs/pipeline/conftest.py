from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _pipeline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", "0")
    for name in ("CONTENTGEN_LLM", "CONTENTGEN_OFFLINE_FAIL_STAGE", "CONTENTGEN_OFFLINE_STALL_STAGE"):
        monkeypatch.delenv(name, raising=False)
