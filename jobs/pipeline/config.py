"""The pipeline's environment variables, read here and nowhere else in the pipeline.

The pipeline runs without Django, so it reads its variables itself, at call time: a worker's next job sees a
change at once (the tests and demos switch the offline model's failure stage that way). contentgen/env.py
reads and checks the same names when a process starts, and contentgen/variables.py documents them.
"""

from __future__ import annotations

import os

LLM = "CONTENTGEN_LLM"
LLM_BASE_URL = "CONTENTGEN_LLM_BASE_URL"
LOCAL_MODEL_PATH = "CONTENTGEN_LOCAL_MODEL_PATH"
LOCAL_THREADS = "CONTENTGEN_LOCAL_THREADS"
OFFLINE_TOKENS_PER_SECOND = "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND"
OFFLINE_FAIL_STAGE = "CONTENTGEN_OFFLINE_FAIL_STAGE"
OFFLINE_STALL_STAGE = "CONTENTGEN_OFFLINE_STALL_STAGE"
VAR_DIR = "CONTENTGEN_VAR_DIR"


def get(name: str) -> str:
    """The variable's value, stripped ("" when unset). Also a provider's key (OPENAI_API_KEY, ...)."""
    return os.environ.get(name, "").strip()
