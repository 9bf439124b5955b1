"""contentgen.outbound, the guard of every server-side request, against real servers on loopback."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from contentgen import outbound
from contentgen.outbound import OutboundError

Handler = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def serve(handle: Handler) -> Iterator[str]:
    """An HTTP server on loopback answering every request with `handle`; yields its base URL."""

    class Answer(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            handle(self)

        do_POST = do_GET  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def reply(status: int = 200, body: bytes = b"ok", **headers: str) -> Handler:
    def handle(request: BaseHTTPRequestHandler) -> None:
        request.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            request.send_header(name.replace("_", "-"), value)
        request.end_headers()
        request.wfile.write(body)

    return handle


def timed(call: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    try:
        return call(), time.monotonic() - started
    except OutboundError as exc:
        return exc, time.monotonic() - started


@pytest.mark.parametrize(
    ("address", "public", "with_allow_private"),
    [
        ("93.184.215.14", True, True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True, True),
        ("127.0.0.1", False, True),
        ("10.1.2.3", False, True),
        ("100.64.0.1", False, True),
        ("169.254.169.254", False, False),  # link-local: the metadata service, refused even on private networks
        ("fe80::1", False, False),
        ("224.0.0.1", False, False),
        ("0.0.0.0", False, False),
        ("::", False, False),
        ("::1", False, True),
        ("fd00:ec2::254", False, True),
        ("64:ff9b::5db8:d70e", False, True),  # NAT64 of a public address: translated, refused by default
        ("64:ff9b::a9fe:a9fe", False, False),  # NAT64 of the metadata service: decoded, refused always
        ("2002:a9fe:a9fe::1", False, False),  # 6to4 of the same
        ("::a9fe:a9fe", False, False),  # IPv4-compatible
        ("::ffff:127.0.0.1", False, True),  # IPv4-mapped loopback
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False, True),  # Teredo (its client: a public address)
    ],
)
def test_which_addresses_are_allowed(address, public, with_allow_private):
    assert outbound.allowed(address) is public
    assert outbound.allowed(address, allow_private=True) is with_allow_private


def test_loopback_is_refused_without_allow_private_and_nothing_is_sent():
    hits: list[str] = []

    def count(request: BaseHTTPRequestHandler) -> None:
        hits.append(request.path)
        reply()(request)

    with serve(count) as base:
        with pytest.raises(OutboundError) as refused:  # noqa: SIM117 - the server outlives the refusal
            outbound.fetch(f"{base}/x")
        assert outbound.fetch(f"{base}/y", allow_private=True).body == b"ok"
    assert refused.value.refused and refused.value.reason == "private"
    assert "127.0.0.1 resolves to a private address" in refused.value.message
    assert hits == ["/y"]


def test_the_request_keeps_the_host_name_in_the_host_header():
    seen: list[str] = []

    def record(request: BaseHTTPRequestHandler) -> None:
        seen.append(request.headers["Host"])
        reply()(request)

    with serve(record) as base:
        port = base.rsplit(":", 1)[1]
        outbound.fetch(f"http://localhost:{port}/", allow_private=True)
    assert seen == [f"localhost:{port}"]


def trickle(*, headers_done: bool, every: float = 0.5) -> Handler:
    def handle(request: BaseHTTPRequestHandler) -> None:
        request.wfile.write(b"HTTP/1.1 200 OK\r\n")
        if headers_done:
            request.wfile.write(b"Content-Length: 1000000\r\n\r\n")
        request.wfile.flush()
        for _ in range(100):
            time.sleep(every)
            try:
                request.wfile.write(b"X")
                request.wfile.flush()
            except OSError:
                return

    return handle


@pytest.mark.parametrize("headers_done", [False, True], ids=["trickled-headers", "trickled-body"])
def test_one_deadline_covers_headers_and_body_of_a_trickling_server(headers_done):
    with serve(trickle(headers_done=headers_done)) as base:
        error, seconds = timed(lambda: outbound.fetch(base, allow_private=True, deadline=2.0))
    assert isinstance(error, OutboundError) and error.timed_out, error
    assert seconds < 3.0
    print(f"trickling server ({'body' if headers_done else 'headers'}): gave up after {seconds:.2f} s")


def test_a_declared_body_over_the_cap_is_refused_before_it_is_read():
    def huge(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Length", str(30 * 1024 * 1024))
        request.end_headers()
        time.sleep(10)

    with serve(huge) as base:
        error, seconds = timed(lambda: outbound.fetch(base, allow_private=True, max_bytes=1024 * 1024))
    assert isinstance(error, OutboundError) and error.reason == "too_large", error
    assert seconds < 2


def test_a_gzip_bomb_stops_at_the_cap():
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    with serve(reply(body=bomb, Content_Encoding="gzip")) as base:
        error, seconds = timed(lambda: outbound.fetch(base, allow_private=True, max_bytes=1024 * 1024))
        cut = outbound.fetch(base, allow_private=True, max_bytes=1024 * 1024, truncate=True)
    assert isinstance(error, OutboundError) and error.reason == "too_large", error
    assert cut.truncated and cut.body == b"\0" * (1024 * 1024)
    print(f"gzip bomb of {len(bomb)} bytes (200 MiB inflated): refused in {seconds:.2f} s")


def test_a_gzip_answer_is_decompressed():
    with serve(reply(body=gzip.compress(b"hello " * 1000), Content_Encoding="gzip")) as base:
        assert outbound.fetch(base, allow_private=True).body == b"hello " * 1000


def test_a_redirect_is_answered_as_is_unless_following_is_asked():
    with serve(reply(302, b"", Location="/elsewhere")) as base:
        answer = outbound.fetch(f"{base}/start", allow_private=True)
    assert answer.status == 302 and answer.headers["location"] == "/elsewhere"


def test_a_followed_redirect_is_checked_again_at_every_hop():
    with serve(reply(302, b"", Location="http://169.254.169.254/latest/meta-data/")) as base:
        error, seconds = timed(lambda: outbound.fetch(base, allow_private=True, follow_redirects=3))
    assert isinstance(error, OutboundError) and error.reason == "private", error
    assert "169.254.169.254" in error.message  # the URL's own host, as given; never a resolved address
    assert seconds < 1


def test_a_followed_redirect_reaches_the_next_server():
    with serve(reply(body=b"arrived")) as target, serve(reply(301, b"", Location=f"{target}/there")) as start:
        answer = outbound.fetch(start, allow_private=True, follow_redirects=2)
    assert (answer.status, answer.body, answer.url) == (200, b"arrived", f"{target}/there")


def test_a_redirect_loop_ends_with_too_many_redirects():
    with serve(reply(302, b"", Location="/again")) as base, pytest.raises(OutboundError, match="More than 3"):
        outbound.fetch(base, allow_private=True, follow_redirects=3)


def test_a_closed_port_is_a_connect_error_that_names_the_host_only():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OutboundError) as failed:
        outbound.fetch(f"http://localhost:{port}/", allow_private=True, deadline=3)
    assert failed.value.reason == "connect" and not failed.value.refused
    assert "localhost" in failed.value.message


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///nohost", "not a url"])
def test_urls_other_than_http_and_https_are_refused(url):
    with pytest.raises(OutboundError) as refused:
        outbound.fetch(url)
    assert refused.value.refused
