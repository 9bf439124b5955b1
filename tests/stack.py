"""Real processes for integration tests: daphne and `run_worker`, on the test database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from django.conf import settings
from pymongo.uri_parser import parse_uri

from contentgen.embedded import daphne_command, die_with_parent, free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.05, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def child_mongodb_uri() -> str:
    """MONGODB_URI with the test database's name, for child processes."""
    base = os.environ["MONGODB_URI"]
    name = settings.DATABASES["default"]["NAME"]
    nodes = ",".join(f"{host}:{port}" for host, port in parse_uri(base)["nodelist"])
    return f"mongodb://{nodes}/{name}"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MONGODB_URI": child_mongodb_uri(),
            "DJANGO_DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "contentgen.settings",
            "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("CONTENTGEN_OFFLINE_FAIL_STAGE", None)
    env.update(extra)
    return env


def _log(name: str) -> Any:
    ARTIFACTS.mkdir(exist_ok=True)
    return (ARTIFACTS / f"{name}.log").open("ab")


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def claimed(self) -> list[str]:
        """The ids of the jobs this worker claimed, from its log."""
        text = self.log.read_text(errors="replace")
        return [line.split(" claimed job ", 1)[1].split()[0] for line in text.splitlines() if " claimed job " in line]

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)


def start_worker(*args: str, log: str = "worker", **env: str) -> WorkerProcess:
    """`log` names the worker's log under test-artifacts/ (appended to; give a unique name to read it)."""
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", *args],
        cwd=ROOT,
        env=child_env(**env),
        stdout=_log(log),
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    return WorkerProcess(proc, ARTIFACTS / f"{log}.log")


def run_burst(timeout: float = 90, log: str = "worker", **env: str) -> int:
    return start_worker("--burst", log=log, **env).wait(timeout)


def burst_here(timeout: float = 90, **env: str) -> None:
    """`run_burst` in this process: the same Worker, crewAI and stores, on a thread, with `env` set (as for a
    child, see `child_env`) while it runs. For tests whose point is not the worker's process (its signals,
    its death, its log): starting one costs about 6 s of CPU, crewAI's import mostly, and the suite is
    CPU-bound. Raises when the worker fails or is still running after `timeout`."""
    from jobs.runtime.worker import Worker  # noqa: PLC0415 - Django is set up by then

    wanted = {"CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "0", "CONTENTGEN_OFFLINE_FAIL_STAGE": None, **env}
    saved = {name: os.environ.get(name) for name in wanted}
    worker = Worker(burst=True)
    outcome: list[BaseException | int] = []

    def run() -> None:
        try:
            outcome.append(worker.run())
        except BaseException as exc:
            outcome.append(exc)

    _set_environ(wanted)
    try:
        runner = threading.Thread(target=run, name="burst-worker", daemon=True)
        runner.start()
        runner.join(timeout)
        if runner.is_alive():
            worker.stop()
            runner.join(60)
            raise AssertionError(f"the burst worker was still running after {timeout:.0f} s")
    finally:
        _set_environ(saved)
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    assert outcome == [0], outcome


def _set_environ(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@dataclass
class Daphne:
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    command: Callable[[int], list[str]] = daphne_command
    # What /healthz may answer once the server is up: with DJANGO_SECURE=1, a redirect to HTTPS.
    ready_statuses: tuple[int, ...] = (200,)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Daphne:
        self.proc = subprocess.Popen(
            self.command(self.port),
            cwd=ROOT,
            env=child_env(**self.env),
            stdout=_log("daphne"),
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daphne exited with {self.proc.returncode}; see test-artifacts/daphne.log"
                )
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code in self.ready_statuses
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, interval=0.1, what="daphne to answer /healthz")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class SseEvent:
    id: int | None
    event: str
    data: Any


def iter_sse(lines: Iterator[str]) -> Iterator[SseEvent | str]:
    """SSE events, and comment lines (': ping') as plain strings."""
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                raw = "\n".join(data)
                try:
                    parsed: Any = json.loads(raw)
                except ValueError:
                    parsed = raw
                event_id = fields.get("id")
                yield SseEvent(int(event_id) if event_id else None, fields.get("event", "message"), parsed)
            fields, data = {}, []
        elif line.startswith(":"):
            yield line
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                fields[name] = value


def read_stream(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    stop: Callable[[list[SseEvent]], bool] | None = None,
    timeout: float = 60,
    comments: list[str] | None = None,
    into: list[SseEvent] | None = None,
) -> list[SseEvent]:
    """Read events until the server ends the stream, or `stop(events)` is true; bounded by `timeout`.

    Events are appended to `into` (a new list unless given) as they arrive, and it is returned.
    """
    got: list[SseEvent] = into if into is not None else []
    deadline = time.monotonic() + timeout
    with httpx.stream(
        "GET", url, headers=headers or {}, timeout=httpx.Timeout(timeout, read=timeout)
    ) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for item in iter_sse(response.iter_lines()):
            if isinstance(item, str):
                if comments is not None:
                    comments.append(item)
            else:
                got.append(item)
            if stop and stop(got):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"stream {url} still open after {timeout} s; got {len(got)} events")
    return got


class StreamReader(threading.Thread):
    """`read_stream` in a thread: `events` fills as events arrive, and `result()` re-raises its error."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(daemon=True, name=f"sse-reader {url}")
        self.url = url
        self.kwargs = kwargs
        self.events: list[SseEvent] = []
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            read_stream(self.url, into=self.events, **self.kwargs)
        except BaseException as exc:
            self.error = exc

    def result(self, timeout: float) -> list[SseEvent]:
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"stream {self.url} still open after {timeout:.0f} s; got {len(self.events)} events")
        if self.error is not None:
            raise self.error
        return self.events


def run_async(coro: Any, timeout: float = 100) -> Any:
    """asyncio.run in a fresh thread: playwright's sync API keeps an event loop running in the main one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=timeout)


def ws_outcome(url: str, headers: dict[str, str] | None = None) -> int | None:
    """How a WebSocket on `url` ends before its first message: the handshake's HTTP status when it is
    refused (403), the close code when it is accepted and closed (4429, 1000), None if a message came."""

    async def connect() -> int | None:
        try:
            async with websockets.connect(url, additional_headers=headers or {}, open_timeout=10) as ws:
                await asyncio.wait_for(ws.recv(), timeout=10)
        except websockets.InvalidStatus as exc:
            return exc.response.status_code
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
        return None

    return run_async(connect())
