"""The transport edge under abuse, against uvicorn started as `make run` starts it: forwarded headers, request
bodies that never end, and WebSocket origins."""

from __future__ import annotations

import asyncio
import json
import re
import select
import socket
from collections.abc import Iterator

import httpx
import pytest
import websockets

from contentgen.edge import TrustedProxies
from jobs.core import services
from tests.factories import job_fields, token_for
from tests.stack import Daphne, run_async, uvicorn_on

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    server = Daphne(command=uvicorn_on).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def secure_server(django_db_setup, django_db_blocker):
    server = Daphne(command=uvicorn_on, env={"DJANGO_SECURE": "1"}, ready_statuses=(301,)).start()
    yield server
    server.stop()


# 5. The login lockout ---------------------------------------------------------------------------------


def login(client: httpx.Client, base: str, username: str, password: str, forwarded_for: str) -> int:
    page = client.get(f"{base}/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    answer = client.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return answer.status_code


def test_five_wrong_passwords_from_new_forwarded_addresses_lock_the_sixth_try(server, user):
    with httpx.Client(timeout=20) as client:
        failures = [login(client, server.url, user.username, "wrong", f"203.0.113.{n}") for n in range(5)]
        assert failures == [200] * 4 + [429]  # the form again with its error, then the lockout page
        assert login(client, server.url, user.username, "correct-horse-battery", "203.0.113.99") == 429


# 7. Request bodies ------------------------------------------------------------------------------------


def send_until_answered(port: int, head: bytes, chunks: Iterator[bytes], *, give_up_after: int) -> tuple[int, int]:
    """(status, bytes of body sent before the answer came), sending `chunks` after `head` until the server
    answers, stops reading, or `give_up_after` bytes are sent (then status 0)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sock.settimeout(2)
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0] or sent >= give_up_after:
                break
            try:
                sock.sendall(chunk)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                break  # the server stopped reading
            sent += len(chunk)
        sock.settimeout(10)
        try:
            answer = sock.recv(65536)
        except ConnectionResetError:
            answer = b""
    match = re.match(rb"HTTP/1\.1 (\d{3})", answer)
    return (int(match.group(1)) if match else 0), sent


def zeros(size: int, *, chunked: bool) -> Iterator[bytes]:
    piece = b"0" * (256 * 1024)
    for _ in range(size // len(piece)):
        yield (b"%x\r\n" % len(piece) + piece + b"\r\n") if chunked else piece


def test_a_declared_1_gib_body_is_refused_before_40_mib_are_sent(server):
    port = int(server.url.rsplit(":", 1)[1])
    head = (
        b"POST /api/bulk-jobs/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1073741824\r\n\r\n"
    )
    status, sent = send_until_answered(port, head, zeros(1024 * MiB, chunked=False), give_up_after=40 * MiB)
    assert status == 413 and sent < 40 * MiB, (status, sent)
    print(f"declared 1 GiB: 413 after {sent / MiB:.2f} MiB sent")


def test_a_chunked_body_is_refused_before_40_mib_are_sent(server):
    port = int(server.url.rsplit(":", 1)[1])
    head = (
        b"POST /api/bulk-jobs/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    status, sent = send_until_answered(port, head, zeros(1024 * MiB, chunked=True), give_up_after=40 * MiB)
    assert status == 413 and sent < 40 * MiB, (status, sent)
    print(f"chunked: 413 after {sent / MiB:.2f} MiB sent")


def test_a_body_within_the_limit_still_reaches_the_api(server, user):
    body = json.dumps({"mode": "topic", "topic": "Kept", "padding": " " * (2 * MiB)})
    answer = httpx.post(
        f"{server.url}/api/jobs/", content=body, timeout=20,
        headers={"Authorization": f"Token {token_for(user)}", "Content-Type": "application/json"},
    )  # fmt: skip
    assert answer.status_code == 400 and "padding" in answer.text  # read and parsed: an unknown field


# 9. Transport defaults ----------------------------------------------------------------------------------


def ws_first(url: str, headers: dict[str, str]) -> int | str:
    async def first() -> int | str:
        try:
            async with websockets.connect(url, additional_headers=headers, open_timeout=10) as ws:
                return str(json.loads(await asyncio.wait_for(ws.recv(), timeout=10))["type"])
        except websockets.InvalidStatus as exc:
            return int(exc.response.status_code)

    return run_async(first())


def test_a_websocket_origin_must_match_scheme_host_and_port(server, user):
    job = services.job_submit(user=user, data=job_fields(), charge=False)
    url = server.url.replace("http", "ws") + f"/ws/jobs/{job.pk}/"
    auth = {"Authorization": f"Token {token_for(user)}"}
    port = int(server.url.rsplit(":", 1)[1])
    assert ws_first(url, {**auth, "Origin": server.url}) == "progress"
    assert ws_first(url, auth) == "progress"  # programs send no Origin: their token decides
    for origin in (f"http://127.0.0.1:{port + 1}", f"https://127.0.0.1:{port}", f"http://localhost:{port}"):
        assert ws_first(url, {**auth, "Origin": origin}) == 403, origin


def test_a_forwarded_proto_from_an_untrusted_client_is_not_believed(secure_server):
    answer = httpx.get(
        f"{secure_server.url}/accounts/login/", headers={"X-Forwarded-Proto": "https"}, timeout=20
    )
    assert answer.status_code == 301 and answer.headers["location"].startswith("https://")


# The rule itself, as pure logic: whose forwarded headers count.


def resolved(peer: str, headers: dict[str, str], trusted: list[str]) -> dict:
    scope = {
        "type": "http",
        "scheme": "http",
        "client": (peer, 5000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    seen: list[dict] = []

    async def app(scope, receive, send):
        seen.append(scope)

    asyncio.run(TrustedProxies(app, trusted)(scope, None, None))
    return seen[0]


def test_a_trusted_proxys_forwarded_headers_give_the_client_and_scheme():
    scope = resolved(
        "10.0.0.5", {"X-Forwarded-For": "198.51.100.7, 10.0.0.9", "X-Forwarded-Proto": "https"}, ["10.0.0.0/8"]
    )
    assert scope["client"] == ("198.51.100.7", 0) and scope["scheme"] == "https"


def test_an_untrusted_peers_forwarded_headers_are_dropped():
    scope = resolved("198.51.100.7", {"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https"}, ["10.0.0.0/8"])
    assert scope["client"] == ("198.51.100.7", 5000) and scope["scheme"] == "http"
    assert not [name for name, _ in scope["headers"] if name.startswith(b"x-forwarded")]


def test_a_forged_left_part_of_the_chain_is_skipped():
    scope = resolved("10.0.0.5", {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}, ["10.0.0.0/8"])
    assert scope["client"] == ("198.51.100.7", 0)
