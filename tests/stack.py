"""Real processes for integration tests: daphne and `run_worker`, on the test database."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from django.conf import settings
from pymongo.uri_parser import parse_uri

from contentgen.embedded import die_with_parent, stop_process, uvicorn_command
from contentgen.testing.ports import free_port

__all__ = ["free_port"]

ROOT = Path(__file__).resolve().parent.parent
# One folder per xdist worker: two workers' processes never write to the same log.
ARTIFACTS = ROOT / "test-artifacts" / (os.environ.get("PYTEST_XDIST_WORKER") or "main")
_children = itertools.count(1)

# The session's shared daphne (tests/conftest.py: daphne_server): what its tests need, none more than the
# others. They carry ON_THE_SHARED_SERVER, which sends them all to one xdist worker: one server per run.
SHARED_SERVER_ENV = {
    "CONTENTGEN_SSE_PING_SECONDS": "1",
    "CONTENTGEN_MAX_STREAMS_PER_USER": "3",
    "CONTENTGEN_METRICS_TOKEN": "shared-server-metrics",
}
ON_THE_SHARED_SERVER = pytest.mark.xdist_group("daphne")


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
    """This process's environment for a child on the test database, with a var directory of its own
    (crewAI's SQLite and lock files are per process)."""
    env = dict(os.environ)
    env.update(
        {
            "MONGODB_URI": child_mongodb_uri(),
            "DJANGO_DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "contentgen.settings",
            "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "0",
            "CONTENTGEN_VAR_DIR": tempfile.mkdtemp(
                prefix=f"child-{next(_children)}-", dir=os.environ["CONTENTGEN_VAR_DIR"]
            ),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("CONTENTGEN_OFFLINE_FAIL_STAGE", None)
    env.update(extra)
    return env


def _log(name: str) -> Any:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
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


class WorkerThread:
    """`run_worker` in this process: the same Worker, crewAI and stores, on a thread, with `env` set (as for a
    child, see `child_env`) while it runs. For tests whose point is not the worker's process (its signals,
    its death, its log): starting one costs about 6 s of CPU, crewAI's import mostly, and the suite is
    CPU-bound."""

    def __init__(self, *, burst: bool = False, concurrency: int = 1, **env: str) -> None:
        from jobs.runtime.worker import Worker  # noqa: PLC0415 - Django is set up by then

        self.env: dict[str, str | None] = {
            "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "0",
            "CONTENTGEN_OFFLINE_FAIL_STAGE": None,
            **env,
        }
        self.saved = {name: os.environ.get(name) for name in self.env}
        self.worker = Worker(burst=burst, concurrency=concurrency)
        self.outcome: list[BaseException | int] = []
        self.thread = threading.Thread(target=self._run, name="test-worker", daemon=True)

    def _run(self) -> None:
        try:
            self.outcome.append(self.worker.run())
        except BaseException as exc:
            self.outcome.append(exc)

    def start(self) -> WorkerThread:
        _set_environ(self.env)
        self.thread.start()
        return self

    def wait(self, timeout: float) -> None:
        """Until the worker returns (a burst worker, or one told to stop); raises if it failed or is still
        running after `timeout`."""
        try:
            self.thread.join(timeout)
            if self.thread.is_alive():
                self.worker.stop()
                self.thread.join(60)
                raise AssertionError(f"the worker thread was still running after {timeout:.0f} s")
        finally:
            _set_environ(self.saved)
        if isinstance(self.outcome[0], BaseException):
            raise self.outcome[0]
        assert self.outcome == [0], self.outcome

    def stop(self, timeout: float = 60) -> None:
        """As SIGTERM does: running jobs are handed back, then the worker returns."""
        self.worker.stop()
        self.wait(timeout)


class EventGate:
    """Holds the worker of a job in this process before it publishes its event number `at`, until released:
    the job is certainly still running, its stored progress still, while the test acts in between."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, at: int) -> None:
        from jobs.runtime import tracker  # noqa: PLC0415 - Django is set up by then

        self.at = at
        self.held = threading.Event()
        self.released = threading.Event()
        emit = tracker.job_emit

        def gated(*, after: int | None = None, **kwargs: Any) -> int:
            if after is not None and after + 1 == self.at:
                self.held.set()
                assert self.released.wait(90), "the gate was never released"
            return emit(after=after, **kwargs)

        monkeypatch.setattr(tracker, "job_emit", gated)

    def wait(self, timeout: float = 60) -> None:
        assert self.held.wait(timeout), f"the job never reached its event {self.at}"

    def release(self) -> None:
        self.released.set()


def burst_here(timeout: float = 90, **env: str) -> None:
    """`run_burst` in this process (see WorkerThread); raises when the worker fails or is still running after
    `timeout`."""
    WorkerThread(burst=True, **env).start().wait(timeout)


@contextmanager
def worker_here(*, concurrency: int = 1, **env: str) -> Iterator[WorkerThread]:
    """A long-running worker in this process for the block's duration, stopped (as by SIGTERM) at its end."""
    running = WorkerThread(concurrency=concurrency, **env).start()
    try:
        yield running
    finally:
        running.stop()


def _set_environ(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def daphne_on(fd: int) -> list[str]:
    """daphne serving contentgen on an inherited listening socket."""
    return [sys.executable, "-m", "daphne", "--fd", str(fd), "contentgen.asgi:application"]


def uvicorn_on(fd: int) -> list[str]:
    """uvicorn as `make run` starts it (contentgen.embedded.uvicorn_command), on an inherited socket."""
    command = uvicorn_command(0)
    at = command.index("--host")
    del command[at : at + 4]  # --host 127.0.0.1 --port 0
    return [*command, "--fd", str(fd)]


def _listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@dataclass
class Daphne:
    """A web server process on a socket this process holds and hands to it: no other process can take the
    port, a restart comes back on the same one, and clients that connect meanwhile wait in its backlog."""

    env: dict[str, str] = field(default_factory=dict)
    command: Callable[[int], list[str]] = daphne_on
    log: str = "daphne"
    proc: subprocess.Popen[bytes] | None = None
    sock: socket.socket = field(default_factory=_listening_socket)
    # What /healthz may answer once the server is up: with DJANGO_SECURE=1, a redirect to HTTPS.
    ready_statuses: tuple[int, ...] = (200,)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Daphne:
        fd = self.sock.fileno()
        self.proc = subprocess.Popen(
            self.command(fd),
            cwd=ROOT,
            env=child_env(**self.env),
            stdout=_log(self.log),
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
            preexec_fn=die_with_parent,
        )

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the server exited with {self.proc.returncode}; see {ARTIFACTS / self.log}.log"
                )
            try:
                return httpx.get(f"{self.url}/healthz", timeout=1).status_code in self.ready_statuses
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=60, interval=0.1, what="the server to answer /healthz")
        return self

    def halt(self) -> None:
        """Stop the process and keep the socket, for `start` to bring it back on the same port."""
        if self.proc is not None:
            stop_process(self.proc)

    def stop(self) -> None:
        self.halt()
        self.sock.close()

    def restart(self) -> None:
        self.halt()
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


async def _asgi_get(path: str, headers: dict[str, str]) -> httpx.Response:
    from contentgen.asgi import application  # noqa: PLC0415 - Django is set up by then

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(path, headers=headers)
        await response.aread()
        return response


def asgi_get(path: str, headers: dict[str, str] | None = None, timeout: float = 30) -> httpx.Response:
    """A GET through contentgen's ASGI application in this process, the answer read to its end: for a
    response that ends by itself (a download, the stream of a finished job), where no server is the point."""
    return run_async(asyncio.wait_for(_asgi_get(path, headers or {}), timeout), timeout=timeout + 10)


class CounterDelta:
    """How much a Prometheus sample of this process grew since the block began: other tests' increments
    came before it, and in-process workers stop with their tests, so nothing else adds to it meanwhile."""

    def __init__(self, name: str, **labels: str) -> None:
        from prometheus_client import REGISTRY  # noqa: PLC0415 - the registry contentgen.metrics fills

        self.read = lambda: REGISTRY.get_sample_value(name, labels) or 0.0
        self.start = self.read()

    @property
    def grown(self) -> float:
        return self.read() - self.start
