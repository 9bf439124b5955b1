"""Benchmark clients: SSE streams on raw sockets, in a process of their own.

The publisher runs in the benchmark's main process; the clients run here, so that neither waits for
the other's GIL (Python hands the GIL over every 5 ms, more than the latencies being measured). The
main process drives this one through a pipe with small commands (`ClientPool` in bench/common.py).
No Django here: only asyncio, sockets and the standard library.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

CONNECT_TIMEOUT = 30.0
CLOSE_TIMEOUT = 10.0


class Viewer(asyncio.Protocol):
    """One SSE client: parses HTTP/1.1 (chunked or not) and notes (seq, receive time, event timestamp)."""

    def __init__(self, request: bytes, ready_on_event: bool) -> None:
        loop = asyncio.get_running_loop()
        self.request = request
        self.ready_on_event = ready_on_event
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
        self.latencies: list[float] = []
        self.closing = False
        self.lost: str | None = None
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
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
            self.status = int(status_line.split(" ")[1])
            if self.status != 200:
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
        self.seqs.append(int(frame[4 : frame.index(b"\n")]))
        start = frame.rfind(b'"timestamp":"')
        if start >= 0:
            start += 13
            stamp = dt.datetime.fromisoformat(frame[start : frame.index(b'"', start)].decode()).timestamp()
            self.latencies.append((now - stamp) * 1000)
        if not self.ready.done():
            self.ready.set_result(None)


def request_bytes(port: int, path: str, token: str | None, extra: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
    if token:
        lines.append(f"Authorization: Token {token}")
    lines.extend(f"{k}: {v}" for k, v in (extra or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def open_viewer(port: int, path: str, token: str | None, ready_on_event: bool) -> Viewer:
    loop = asyncio.get_running_loop()
    request = request_bytes(port, path, token)
    _, viewer = await asyncio.wait_for(
        loop.create_connection(lambda: Viewer(request, ready_on_event), "127.0.0.1", port),
        timeout=CONNECT_TIMEOUT,
    )
    try:
        await asyncio.wait_for(asyncio.shield(viewer.ready), timeout=CONNECT_TIMEOUT)
    except BaseException:
        viewer.close()
        raise
    return viewer


async def plain_get(port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = await reader.readline()
    await reader.read()
    writer.close()
    return int(head.split(b" ", 2)[1])


async def close_all(viewers: list[Viewer]) -> None:
    for viewer in viewers:
        viewer.close()
    if viewers:
        await asyncio.wait([asyncio.ensure_future(v.closed) for v in viewers], timeout=CLOSE_TIMEOUT)


class Pool:
    """The client side of one scenario: viewers by path, and the commands the main process sends."""

    def __init__(self) -> None:
        self.viewers: list[tuple[str, Viewer]] = []

    async def connect(
        self, *, port: int, paths: list[str], token: str | None, concurrency: int, ready_on_event: bool
    ) -> dict[str, Any]:
        gate = asyncio.Semaphore(concurrency)

        async def one(path: str) -> None:
            async with gate:
                self.viewers.append((path, await open_viewer(port, path, token, ready_on_event)))

        started = time.perf_counter()
        results = await asyncio.gather(*(one(p) for p in paths), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        return {
            "seconds": time.perf_counter() - started,
            "failures": len(failures),
            "first_failure": repr(failures[0]) if failures else None,
        }

    async def reset(self) -> None:
        for _, viewer in self.viewers:
            viewer.seqs.clear()
            viewer.latencies.clear()

    async def wait(self, *, expect: dict[str, list[int]], within: float) -> dict[str, Any]:
        """Until every viewer has its path's last expected seq (or the timeout); then the figures.

        `expect[path]` is the [first, last] seq published while measuring: a viewer is complete when
        it got exactly first..last, in order, once each (an initial state event before `first` is fine)."""
        deadline = time.monotonic() + within

        def behind() -> bool:
            return any(
                v.lost is None and (not v.seqs or v.seqs[-1] < expect[p][1])
                for p, v in self.viewers
                if p in expect
            )

        while behind() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        latencies: list[float] = []
        delivered = complete = gaps = 0
        for path, viewer in self.viewers:
            first, last = expect.get(path, (0, -1))
            got = [s for s in viewer.seqs if s >= first]
            delivered += len(got)
            complete += got == list(range(first, last + 1))
            gaps += sum(1 for a, b in zip(got, got[1:], strict=False) if b != a + 1)
            keep = len(viewer.latencies) - len(got)
            latencies.extend(viewer.latencies[max(0, keep) :])
        return {
            "latencies": latencies,
            "delivered": delivered,
            "expected": sum(expect[p][1] - expect[p][0] + 1 for p, _ in self.viewers if p in expect),
            "complete": complete,
            "viewers": len(self.viewers),
            "gaps": gaps,
            "lost": sum(v.lost is not None for _, v in self.viewers),
        }

    async def close(self) -> dict[str, Any]:
        count = len(self.viewers)
        await close_all([v for _, v in self.viewers])
        self.viewers.clear()
        return {"closed": count}

    async def open_cost(
        self, *, port: int, stream_path: str, plain_path: str, token: str | None, n: int
    ) -> dict[str, Any]:
        """n sequential stream opens (until the first event) and n plain GETs, interleaved."""
        streams: list[float] = []
        plains: list[float] = []
        for _ in range(n):
            started = time.perf_counter()
            viewer = await open_viewer(port, stream_path, token, True)
            streams.append((time.perf_counter() - started) * 1000)
            await close_all([viewer])
            started = time.perf_counter()
            status = await plain_get(port, plain_path)
            plains.append((time.perf_counter() - started) * 1000)
            assert status == 200, status
        return {"stream_ms": streams, "plain_ms": plains}

    async def cycles(
        self, *, port: int, paths: list[str], token: str | None, concurrency: int
    ) -> dict[str, Any]:
        """Open a stream (to its first event) and close it, once per path, `concurrency` at a time."""
        gate = asyncio.Semaphore(concurrency)
        failures = 0

        async def one(path: str) -> None:
            nonlocal failures
            async with gate:
                try:
                    viewer = await open_viewer(port, path, token, True)
                except Exception:
                    failures += 1
                    return
                await close_all([viewer])

        started = time.perf_counter()
        await asyncio.gather(*(one(p) for p in paths))
        return {"seconds": time.perf_counter() - started, "failures": failures}


def serve(conn: Any) -> None:
    """The client process: run the commands from the pipe until "exit"."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pool = Pool()
        commands: dict[str, Callable[..., Any]] = {
            "connect": pool.connect,
            "reset": pool.reset,
            "wait": pool.wait,
            "close": pool.close,
            "open_cost": pool.open_cost,
            "cycles": pool.cycles,
        }
        while True:
            name, kwargs = await loop.run_in_executor(None, conn.recv)
            if name == "exit":
                await pool.close()
                conn.send(("ok", None))
                return
            try:
                conn.send(("ok", await commands[name](**kwargs)))
            except Exception as exc:  # reported to the main process, which raises it there
                conn.send(("error", f"{type(exc).__name__}: {exc}"))

    try:
        import uvloop  # noqa: PLC0415 - optional: a faster client loop, the same for every design measured

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
