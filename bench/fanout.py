"""Live-progress fan-out under load (a benchmark, not a test: it prints figures).

In one run, on the embedded SecantusDB and Redis, with the project's channel layer (pub/sub):
- many viewers of one job: N SSE clients on `/api/jobs/<id>/progress` of one job while this process
  publishes through the real path (`jobs.services.job_emit`: event log insert, then group_send) at
  5 events/s. Each client takes its receive time minus the event's `timestamp` as the latency, and must
  get every published seq, in order, once. daphne's RSS before and after the clients connect.
  baseline: bench/fanout_baseline.py under daphne, every connection subscribed to the group itself
  (`new_channel()` + `group_add`); contentgen: `daphne contentgen.asgi:application` with its hub (one
  subscription per group per process), token-authenticated.
- idle streams (`--idle N`, 0 skips): N SSE streams, each on its own queued job, RSS per connection.

Each design gets a fresh daphne, one at a time. The clients are one asyncio process (raw sockets, no
threads) on the same cores as the server. daphne logs: var/log/bench-fanout-*.log.

Usage: python bench/fanout.py [--viewers 1000] [--seconds 20] [--rate 5] [--idle 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contentgen.embedded import die_with_parent, free_port, stop_process  # noqa: E402

LOG_DIR = ROOT / "var" / "log"
START_TIMEOUT = 60.0
CONNECT_TIMEOUT = 30.0  # one client: TCP connect, then response headers (and the first event)
DRAIN_TIMEOUT = 15.0  # after the last publish, for the last event to reach every client
CLOSE_TIMEOUT = 10.0
LOG_PROBLEM = re.compile(r"Traceback|Error|ERROR|Exception|WARNING|CRITICAL")

DESIGNS = {
    "baseline": ("subscription per connection", "bench.fanout_baseline:application"),
    "contentgen": ("contentgen (one per process)", "contentgen.asgi:application"),
}


def raise_open_files() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))  # children inherit it
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Server:
    """One daphne process on a free port, its log in var/log, stopped by `stop()` whatever happens."""

    name: str
    app: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return LOG_DIR / f"bench-fanout-{self.name}.log"

    def start(self) -> Server:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), self.app],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne ({self.name}) exited with {self.proc.returncode}; see {self.log}")
            if _healthy(self.port):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"daphne ({self.name}) did not answer /healthz within {START_TIMEOUT:.0f} s")

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
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def log_problems(self) -> list[str]:
        if not self.log.exists():
            return []
        return [
            line for line in self.log.read_text(errors="replace").splitlines() if LOG_PROBLEM.search(line)
        ]


def _get(port: int, path: str, timeout: float = 5) -> tuple[int, bytes]:
    """A plain HTTP/1.0 GET: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def hub_viewers(port: int) -> int | None:
    """contentgen's own count of open progress streams in the process (/metrics), None if unavailable."""
    try:
        status, body = _get(port, "/metrics")
    except (OSError, ValueError, IndexError):
        return None
    found = re.search(rb"^contentgen_stream_viewers (\d+)", body, re.MULTILINE)
    return int(found.group(1)) if status == 200 and found else None


async def wait_streams_closed(server: Server, design: str) -> int | None:
    """After the clients hang up: contentgen's hub must drop every viewer (bounded); the baseline gets 2 s."""
    if design != "contentgen":
        await _settle(2.0)
        return None
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + CLOSE_TIMEOUT
    left = None
    while time.monotonic() < deadline:
        left = await loop.run_in_executor(None, hub_viewers, server.port)
        if left == 0:
            return 0
        await _settle(0.25)
    return left


def _healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return sock.recv(64).split(b" ", 2)[1:2] == [b"200"]
    except (OSError, IndexError):
        return False


class Viewer(asyncio.Protocol):
    """One SSE client on a raw socket: parses HTTP/1.1 (chunked or not) and notes (seq, receive time)."""

    def __init__(self, request: bytes, ready_on_event: bool, stamps: dict[int, float]) -> None:
        loop = asyncio.get_running_loop()
        self.request = request
        self.ready_on_event = ready_on_event  # contentgen: the first event proves the subscription
        self.stamps = stamps  # seq -> the event's `timestamp` (epoch seconds), shared by all viewers
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.in_body = False
        self.chunked = False
        self.raw = bytearray()
        self.need = -1  # bytes left in the current chunk; -1: size line next; -2: CRLF next
        self.sse = bytearray()
        self.seqs: list[int] = []
        self.times: list[float] = []
        self.closing = False
        self.lost: str | None = None  # why the server ended the stream, if it did

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.lost = repr(exc) if exc else "EOF"
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"stream ended before it started: {self.lost}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            status_line, *headers = bytes(self.head[:end]).decode("latin-1").split("\r\n")
            data = bytes(self.head[end + 4 :])
            self.head.clear()
            if status_line.split(" ")[1] != "200":
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(f"{status_line}: {data[:200]!r}"))
                self.close()
                return
            self.chunked = any(
                h.lower().startswith("transfer-encoding:") and "chunked" in h.lower() for h in headers
            )
            self.in_body = True
            if not self.ready_on_event and not self.ready.done():
                self.ready.set_result(None)
        sse = self.sse
        sse += self._dechunk(data) if self.chunked else data
        start = 0
        while (end := sse.find(b"\n\n", start)) >= 0:
            if sse.startswith(b"id: ", start):
                self._event(bytes(sse[start:end]), now)
            start = end + 2
        if start:
            del sse[:start]

    def _dechunk(self, data: bytes) -> bytes:
        raw = self.raw
        raw += data
        out = bytearray()
        pos, size = 0, len(raw)
        while pos < size:
            if self.need > 0:
                take = min(self.need, size - pos)
                out += raw[pos : pos + take]
                pos += take
                self.need -= take
                if self.need == 0:
                    self.need = -2
            elif self.need == -2:
                if size - pos < 2:
                    break
                pos += 2
                self.need = -1
            else:
                end = raw.find(b"\r\n", pos)
                if end < 0:
                    break
                self.need = int(raw[pos:end].split(b";")[0], 16) or -3  # 0: the last chunk
                pos = end + 2
                if self.need == -3:
                    break
        del raw[:pos]
        return bytes(out)

    def _event(self, frame: bytes, now: float) -> None:
        seq = int(frame[4 : frame.index(b"\n")])
        self.seqs.append(seq)
        self.times.append(now)
        if seq not in self.stamps:
            start = frame.rindex(b'"timestamp":"') + 13
            stamp = frame[start : frame.index(b'"', start)].decode()
            self.stamps[seq] = dt.datetime.fromisoformat(stamp).timestamp()
        if not self.ready.done():
            self.ready.set_result(None)


def _request(port: int, path: str, token: str | None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
    if token:
        lines.append(f"Authorization: Token {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def connect(
    server: Server,
    paths: list[str],
    *,
    token: str | None,
    ready_on_event: bool,
    concurrency: int,
    desc: str,
) -> tuple[list[Viewer], dict[int, float], float]:
    """Open one stream per path, `concurrency` handshakes at a time; (viewers, stamps, seconds taken)."""
    from tqdm import tqdm

    loop = asyncio.get_running_loop()
    stamps: dict[int, float] = {}
    viewers: list[Viewer] = []
    gate = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    with tqdm(total=len(paths), desc=desc, unit="conn", leave=False) as bar:

        async def one(path: str) -> None:
            request = _request(server.port, path, token)
            async with gate:
                _, viewer = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: Viewer(request, ready_on_event, stamps), "127.0.0.1", server.port
                    ),
                    timeout=CONNECT_TIMEOUT,
                )
                viewers.append(viewer)
                await asyncio.wait_for(asyncio.shield(viewer.ready), timeout=CONNECT_TIMEOUT)
            bar.update()

        results = await asyncio.gather(*(one(path) for path in paths), return_exceptions=True)
    elapsed = time.perf_counter() - started
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await close(viewers)
        kinds = sorted({type(f).__name__ for f in failures})
        raise RuntimeError(
            f"{len(failures)} of {len(paths)} streams to {server.name} did not start ({', '.join(kinds)});"
            f" first: {failures[0]!r}; see {server.log}"
        )
    return viewers, stamps, elapsed


async def close(viewers: list[Viewer]) -> None:
    for viewer in viewers:
        viewer.close()
    if viewers:
        await asyncio.wait([asyncio.ensure_future(v.closed) for v in viewers], timeout=CLOSE_TIMEOUT)


def _publisher(job: Any, count: int, rate: float, stop: threading.Event, published: list[int]) -> None:
    """The worker's path: job_emit (event log insert, then group_send via the layer sender), at `rate`/s."""
    from django.db import connections
    from tqdm import tqdm

    from jobs.services import job_emit
    from progress import events
    from progress.layer import sender

    try:
        seq = events.last_seq(job.pk)
        next_at = time.monotonic()
        for _ in tqdm(range(count), desc="  publishing", unit="event", leave=False):
            if stop.wait(max(0.0, next_at - time.monotonic())):
                return
            seq = job_emit(job=job, after=seq)
            published.append(seq)
            next_at += 1 / rate
        sender().flush(10)
    finally:
        connections.close_all()


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def _settle(seconds: float = 1.0) -> None:
    await asyncio.sleep(seconds)


async def warm_up(server: Server, path: str, token: str | None, ready_on_event: bool) -> None:
    """One stream opened and closed, so lazy imports and pools are in the "before" RSS."""
    viewers, _, _ = await connect(
        server, [path], token=token, ready_on_event=ready_on_event, concurrency=1, desc="  warm-up"
    )
    await close(viewers)
    await _settle()


async def many_viewers(server: Server, *, design: str, job: Any, token: str, args: Any) -> dict[str, Any]:
    path = f"/api/jobs/{job.pk}/progress"
    ready_on_event = design == "contentgen"
    use_token = token if design == "contentgen" else None
    await warm_up(server, path, use_token, ready_on_event)
    rss_before = server.rss_mib()
    viewers, stamps, connect_seconds = await connect(
        server,
        [path] * args.viewers,
        token=use_token,
        ready_on_event=ready_on_event,
        concurrency=args.concurrency,
        desc=f"{design}: connecting {args.viewers:,} viewers",
    )
    try:
        await _settle()
        rss_after = server.rss_mib()
        hub_after = (
            await asyncio.get_running_loop().run_in_executor(None, hub_viewers, server.port)
            if design == "contentgen"
            else None
        )
        count = round(args.rate * args.seconds)
        published: list[int] = []
        stop = threading.Event()
        cpu_server, cpu_client, wall = server.cpu_seconds(), _cpu_self(), time.perf_counter()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publisher")
        try:
            await asyncio.get_running_loop().run_in_executor(
                pool, _publisher, job, count, args.rate, stop, published
            )
        finally:
            stop.set()
            pool.shutdown(wait=False)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        last = published[-1] if published else 0
        while time.monotonic() < deadline and any(
            not v.seqs or v.seqs[-1] < last for v in viewers if v.lost is None
        ):
            await asyncio.sleep(0.05)
        wall = time.perf_counter() - wall
        cpu_server, cpu_client = server.cpu_seconds() - cpu_server, _cpu_self() - cpu_client
        rss_end = server.rss_mib()
    finally:
        await close(viewers)
    left = await wait_streams_closed(server, design)

    wanted = set(published)
    latencies: list[float] = []
    delivered = complete = 0
    for viewer in viewers:
        got = [(s, t) for s, t in zip(viewer.seqs, viewer.times, strict=True) if s in wanted]
        delivered += len({s for s, _ in got})
        complete += [s for s, _ in got] == published
        latencies.extend((t - stamps[s]) * 1000 for s, t in got)
    latencies.sort()
    lost = [v.lost for v in viewers if v.lost is not None]
    return {
        "connect": connect_seconds,
        "p50": _percentile(latencies, 0.50),
        "p99": _percentile(latencies, 0.99),
        "max": latencies[-1] if latencies else float("nan"),
        "delivered": delivered,
        "expected": len(published) * len(viewers),
        "complete": complete,
        "viewers": len(viewers),
        "lost": len(lost),
        "lost_first": lost[0] if lost else None,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "rss_end": rss_end,
        "per_conn": (rss_after - rss_before) * 1024 / max(1, len(viewers)),
        "cpu_server": 100 * cpu_server / wall,
        "cpu_client": 100 * cpu_client / wall,
        "published": len(published),
        "hub_after": hub_after,
        "left": left,
    }


async def idle_streams(
    server: Server, *, design: str, jobs: list[Any], token: str, args: Any
) -> dict[str, Any]:
    paths = [f"/api/jobs/{job.pk}/progress" for job in jobs]
    ready_on_event = design == "contentgen"
    use_token = token if design == "contentgen" else None
    await warm_up(server, paths[0], use_token, ready_on_event)
    rss_before = server.rss_mib()
    viewers, _, connect_seconds = await connect(
        server,
        paths,
        token=use_token,
        ready_on_event=ready_on_event,
        concurrency=args.concurrency,
        desc=f"{design}: connecting {len(paths):,} idle streams",
    )
    try:
        await _settle(2.0)
        rss_after = server.rss_mib()
        lost = sum(v.lost is not None for v in viewers)
    finally:
        await close(viewers)
    left = await wait_streams_closed(server, design)
    return {
        "connect": connect_seconds,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "per_conn": (rss_after - rss_before) * 1024 / len(viewers),
        "lost": lost,
        "left": left,
    }


def run_design(
    name: str,
    design: str,
    env: dict[str, str],
    scenario: Callable[[Server], Any],
    problems: dict[str, list[str]],
) -> Any:
    """A fresh daphne for one design and one scenario, stopped (and its log read) whatever happens."""
    server = Server(name=name, app=DESIGNS[design][1], env=env)
    try:
        server.start()
        return asyncio.run(scenario(server))
    finally:
        server.stop()
        problems[name] = server.log_problems()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", type=int, default=1000, help="SSE clients on the one job")
    parser.add_argument("--seconds", type=float, default=20, help="how long to publish")
    parser.add_argument("--rate", type=float, default=5, help="events per second")
    parser.add_argument("--idle", type=int, default=1000, help="idle streams on distinct jobs (0: skip)")
    parser.add_argument("--concurrency", type=int, default=32, help="handshakes in flight while connecting")
    args = parser.parse_args()
    nofile = raise_open_files()
    if nofile < 2 * max(args.viewers, args.idle) + 256:
        parser.error(f"the open-files limit is {nofile}: too low for {max(args.viewers, args.idle)} streams")

    from contentgen import embedded

    services = embedded.start(ephemeral=True)
    os.environ.update(
        {
            "MONGODB_URI": services.mongodb_uri,
            "REDIS_URL": services.redis_url,
            "DJANGO_DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "contentgen.settings",
        }
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    problems: dict[str, list[str]] = {}
    fanout: dict[str, dict[str, Any]] = {}
    idle: dict[str, dict[str, Any]] = {}
    try:
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from rest_framework.authtoken.models import Token

        from jobs import services as job_services
        from jobs.models import GenerationJob
        from jobs.validation import parse_job

        call_command("migrate", verbosity=0)
        user = get_user_model().objects.create(username="bench")
        token = Token.objects.create(user=user).key
        spec, errors = parse_job(
            {"mode": "topic", "topic": "Composting in small apartments", "word_count": 1000}
        )
        assert spec is not None, errors
        job = job_services.job_create(user=user, spec=spec)

        for design in DESIGNS:
            fanout[design] = run_design(
                f"{design}-one-job",
                design,
                env,
                lambda server, design=design: many_viewers(
                    server, design=design, job=job, token=token, args=args
                ),
                problems,
            )
        if args.idle:
            bulks = [
                job_services.bulk_create(user=user, specs=[spec] * min(500, args.idle - start))
                for start in range(0, args.idle, 500)
            ]
            idle_jobs = list(GenerationJob.objects.filter(bulk_job__in=bulks))
            for design in DESIGNS:
                idle[design] = run_design(
                    f"{design}-idle",
                    design,
                    env,
                    lambda server, design=design: idle_streams(
                        server, design=design, jobs=idle_jobs, token=token, args=args
                    ),
                    problems,
                )
    finally:
        services.stop()

    print_report(args, fanout, idle, problems)
    return 0


def _opt(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def print_report(
    args: Any,
    fanout: dict[str, dict[str, Any]],
    idle: dict[str, dict[str, Any]],
    problems: dict[str, list[str]],
) -> None:
    base, ours = fanout["baseline"], fanout["contentgen"]
    width, col = 36, 32

    def row(label: str, fmt: Callable[[dict[str, Any]], str], a: dict[str, Any], b: dict[str, Any]) -> None:
        print(f"{label:{width}} {fmt(a):{col}} {fmt(b)}")

    print()
    print(
        f"{args.viewers:,} SSE viewers of one job, {args.rate:g} events/s for {args.seconds:g} s, daphne,"
        f" RedisPubSubChannelLayer, {os.cpu_count()} cores shared with the clients"
    )
    print(f"{'':{width}} {DESIGNS['baseline'][0]:{col}} {DESIGNS['contentgen'][0]}")
    row("latency p50 (ms)", lambda r: f"{r['p50']:.1f}", base, ours)
    row("latency p99 (ms)", lambda r: f"{r['p99']:.1f}", base, ours)
    row("latency max (ms)", lambda r: f"{r['max']:.1f}", base, ours)
    row("events delivered", lambda r: f"{r['delivered']:,} / {r['expected']:,}", base, ours)
    row("viewers with every seq, in order", lambda r: f"{r['complete']:,} / {r['viewers']:,}", base, ours)
    row("streams ended by the server", lambda r: f"{r['lost']:,}", base, ours)
    row("connecting all viewers (s)", lambda r: f"{r['connect']:.1f}", base, ours)
    row("daphne RSS before connect (MB)", lambda r: f"{r['rss_before']:.1f}", base, ours)
    row("daphne RSS after connect (MB)", lambda r: f"{r['rss_after']:.1f}", base, ours)
    row("daphne RSS after the events (MB)", lambda r: f"{r['rss_end']:.1f}", base, ours)
    row("daphne CPU while publishing (%)", lambda r: f"{r['cpu_server']:.0f}", base, ours)
    row("client process CPU (%)", lambda r: f"{r['cpu_client']:.0f}", base, ours)
    row("hub viewers after connect (/metrics)", lambda r: _opt(r["hub_after"]), base, ours)
    row("hub viewers after clients hung up", lambda r: _opt(r["left"]), base, ours)
    if idle:
        ib, io = idle["baseline"], idle["contentgen"]
        print()
        print(f"{args.idle:,} idle SSE streams, each on its own queued job")
        print(f"{'':{width}} {DESIGNS['baseline'][0]:{col}} {DESIGNS['contentgen'][0]}")
        row("daphne RSS before connect (MB)", lambda r: f"{r['rss_before']:.1f}", ib, io)
        row("daphne RSS after connect (MB)", lambda r: f"{r['rss_after']:.1f}", ib, io)
        row("RSS per connection (KiB)", lambda r: f"{r['per_conn']:.1f}", ib, io)
        row("connecting all streams (s)", lambda r: f"{r['connect']:.1f}", ib, io)
        row("hub viewers after clients hung up", lambda r: _opt(r["left"]), ib, io)
    print()
    for name, lines in problems.items():
        print(
            f"daphne log {LOG_DIR / f'bench-fanout-{name}.log'}: {len(lines)} line(s) with errors or warnings"
        )
        for line in lines[:10]:
            print(f"  {line}")
    for design, result in fanout.items():
        if result["lost_first"]:
            print(f"{design}: first stream ended by the server: {result['lost_first']}")


if __name__ == "__main__":
    sys.exit(main())
