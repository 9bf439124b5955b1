"""Shared parts of the benchmark suite: servers under test, the client process, the environment, figures.

Everything runs on this machine: the embedded SecantusDB and Redis, the servers (daphne or uvicorn),
the clients (bench/clients.py, a process of their own) and the publisher (the benchmark's process).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import clients  # noqa: E402
from contentgen.embedded import GRACEFUL_SHUTDOWN_SECONDS, die_with_parent, free_port, stop_process  # noqa: E402

LOG_DIR = ROOT / "var" / "log"
START_TIMEOUT = 60.0
CALL_TIMEOUT = 600.0
LOG_PROBLEM = re.compile(r"Traceback|Error|ERROR|Exception|CRITICAL")


def raise_open_files(want: int = 65536) -> int:
    """Raise the open-files limit (children inherit it): to `want` if allowed, else to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# Figures ---------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Spread:
    """The median of several runs, with the smallest and largest."""

    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")

    def fmt(self, digits: int = 1) -> str:
        if not self.runs:
            return "-"
        if len(self.runs) == 1:
            return f"{self.runs[0]:,.{digits}f}"
        return f"{self.median:,.{digits}f} ({min(self.runs):,.{digits}f}-{max(self.runs):,.{digits}f})"


# Servers under test ------------------------------------------------------------------------------


@dataclass
class Server:
    """One ASGI server process on a free port, its log in var/log, stopped by `stop()` whatever happens.

    kind: "daphne" or "uvicorn"; loop: uvicorn's event loop ("uvloop" or "asyncio")."""

    name: str
    app: str = "contentgen.asgi:application"
    kind: str = "uvicorn"
    loop: str = "uvloop"
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return LOG_DIR / f"bench-{self.name}.log"

    def command(self) -> list[str]:
        if self.kind == "daphne":
            return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), self.app]
        return [
            sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1", "--port", str(self.port),
            "--loop", self.loop, "--http", "httptools", "--lifespan", "off", "--no-access-log",
            "--log-level", "warning", "--backlog", "4096",
            "--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_SECONDS),
            "--no-proxy-headers",  # as contentgen.embedded.uvicorn_command: contentgen.edge decides
        ]  # fmt: skip

    def start(self) -> Server:
        return self.launch().wait_ready()

    def launch(self) -> Server:
        """The process, without waiting for it to answer (`wait_ready`): several start side by side."""
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        return self

    def wait_ready(self) -> Server:
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} ({self.name}) exited with {self.proc.returncode}; see {self.log}"
                )
            if http_get(self.port, "/healthz", timeout=1)[0] == 200:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} ({self.name}) did not answer /healthz within {START_TIMEOUT:.0f} s")

    def _proc_file(self, name: str) -> str:
        assert self.proc is not None
        return Path(f"/proc/{self.proc.pid}/{name}").read_text()

    def rss_mib(self) -> float:
        for line in self._proc_file("status").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc/<pid>/status")

    def cpu_seconds(self) -> float:
        fields = self._proc_file("stat").rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def problems(self) -> list[str]:
        if not self.log.exists():
            return []
        return [
            line for line in self.log.read_text(errors="replace").splitlines() if LOG_PROBLEM.search(line)
        ]

    def metric(self, name: str) -> float | None:
        status, body = http_get(self.port, "/metrics")
        found = re.search(rf"^{name} ([0-9.e+-]+)$".encode(), body, re.MULTILINE)
        return float(found.group(1)) if status == 200 and found else None


@contextmanager
def serving(server: Server, problems: dict[str, list[str]] | None = None) -> Iterator[Server]:
    with serving_together([server], problems):
        yield server


@contextmanager
def serving_together(
    servers: list[Server], problems: dict[str, list[str]] | None = None
) -> Iterator[list[Server]]:
    """The servers started side by side (when their start is not measured), all stopped whatever happens."""
    try:
        for server in servers:
            server.launch()
        yield [server.wait_ready() for server in servers]
    finally:
        for server in servers:
            server.stop()
            if problems is not None:
                problems[server.name] = server.problems()


def http_get(
    port: int, path: str, timeout: float = 5, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """A plain HTTP/1.0 GET: (status, body); (0, b"") when nothing answers."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError:
        return 0, b""
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ", 2)[1]), body
    except (IndexError, ValueError):
        return 0, b""


# The client process ------------------------------------------------------------------------------


class ClientPool:
    """bench/clients.py in a spawned process, driven through a pipe."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.proc = context.Process(target=clients.serve, args=(child,), daemon=True)
        self.proc.start()

    def call(self, name: str, timeout: float = CALL_TIMEOUT, **kwargs: Any) -> Any:
        self.conn.send((name, kwargs))
        if not self.conn.poll(timeout):
            raise TimeoutError(f"the client process did not answer {name} within {timeout:.0f} s")
        status, value = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"client {name}: {value}")
        return value

    def close(self) -> None:
        if self.proc.is_alive():
            with suppress(TimeoutError, OSError, EOFError):
                self.call("exit", timeout=30)
            self.proc.join(timeout=10)
            if self.proc.is_alive():
                self.proc.kill()


@contextmanager
def client_pool() -> Iterator[ClientPool]:
    pool = ClientPool()
    try:
        yield pool
    finally:
        pool.close()


# The environment ---------------------------------------------------------------------------------


@dataclass
class Stack:
    """The embedded services and a Django set up on them, for one benchmark run."""

    services: Any
    user: Any
    token: str

    def stop(self) -> None:
        self.services.stop()


def wait_quiet(services: Any, *, below: float = 10.0, interval: float = 0.5, timeout: float = 30.0) -> float:
    """Wait until the embedded MongoDB is idle: under `below`% of a core over `interval` seconds, for at most
    `timeout` seconds. Returns the seconds waited. A server stopped just before can leave it a backlog
    (the polling baseline's 1,000 connections each polling every 2 s), and a measurement started then
    would time its reads and writes behind that backlog."""
    import psutil  # noqa: PLC0415

    started = time.monotonic()
    process = psutil.Process(services.process("mongodb").pid)
    process.cpu_percent()
    while time.monotonic() - started < timeout:
        time.sleep(interval)
        if process.cpu_percent() < below:
            break
    return time.monotonic() - started


def start_stack() -> Stack:
    from contentgen import embedded  # noqa: PLC0415 - the environment must be set before Django loads

    services = embedded.start(ephemeral=True)
    os.environ.update(
        {
            "MONGODB_URI": services.mongodb_uri,
            "REDIS_URL": services.redis_url,
            # As in production: with DEBUG on, django-mongodb-backend logs every operation (a deep copy of
            # its arguments each time), which cost the claim and the publisher a quarter of their time.
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_SETTINGS_MODULE": "contentgen.settings",
            "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "0",
        }
    )
    try:
        import django  # noqa: PLC0415 - after the environment above

        django.setup()
        from django.contrib.auth import get_user_model  # noqa: PLC0415
        from django.core.management import call_command  # noqa: PLC0415
        from rest_framework.authtoken.models import Token  # noqa: PLC0415

        call_command("migrate", verbosity=0)
        user = get_user_model().objects.create(username="bench")
        token = Token.objects.create(user=user).key
    except BaseException:
        services.stop()
        raise
    return Stack(services=services, user=user, token=token)


def job_spec(**fields: Any) -> Any:
    from jobs.core.validation import parse_job  # noqa: PLC0415 - Django is set up by start_stack

    spec, errors = parse_job(
        {"mode": "topic", "topic": "Composting in small apartments", "word_count": 1000, **fields}
    )
    assert spec is not None, errors
    return spec


def queued_jobs(user: Any, count: int) -> list[Any]:
    """`count` queued jobs, each with its first event, made in batches of 500 (the API's batch path)."""
    from jobs.core import services as job_services  # noqa: PLC0415
    from jobs.models import GenerationJob  # noqa: PLC0415

    spec = job_spec()
    bulks = [
        job_services.bulk_create(user=user, specs=[spec] * min(500, count - start))
        for start in range(0, count, 500)
    ]
    return list(GenerationJob.objects.filter(bulk_job__in=bulks))


def redis_clients() -> int:
    import redis  # noqa: PLC0415
    from django.conf import settings  # noqa: PLC0415

    return int(redis.Redis.from_url(settings.REDIS_URL).info("clients")["connected_clients"])
