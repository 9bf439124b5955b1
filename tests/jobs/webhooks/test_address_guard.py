"""The guard on outgoing webhook requests: no redirects followed, no host name that resolves to a private
address, and the connection made to the address that was checked. Host names resolve through a fake resolver
(socket.getaddrinfo) answering what each test needs; addresses resolve as usual."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jobs.models import WebhookDelivery, WebhookEndpoint
from jobs.webhooks import services
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # a documentation-range-like public address nothing here connects to


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], str]]:
    """Maps a host name to a function giving the address it resolves to at each lookup."""
    names: dict[str, Callable[[], str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in names:
            return real(names[name](), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def attempt_due(owner: str = "test-worker") -> list[str]:
    return [services.delivery_attempt(delivery=d, owner=owner) for d in services.delivery_claim(owner=owner, limit=10)]


def a_delivery_to(api: Any, url: str) -> WebhookDelivery:
    """A test delivery to `url`, registered while `url` passes the check."""
    response = api.post("/api/webhooks/", {"url": url, "events": ["job.completed"]}, format="json")
    assert response.status_code == 201, response.json()
    assert api.post(f"/api/webhooks/{response.json()['id']}/test/").status_code == 202
    return WebhookDelivery.objects.get()


@pytest.fixture
def redirecting(settings: Any) -> Iterator[tuple[str, Receiver]]:
    """A receiver that answers 302 to another receiver, which records what reaches it."""
    settings.CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE = True
    with Receiver() as target:

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(302)
                self.send_header("Location", target.url)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/hook", target
        finally:
            server.shutdown()
            server.server_close()


def test_a_redirect_is_not_followed(api, redirecting):
    url, target = redirecting
    delivery = a_delivery_to(api, url)
    assert attempt_due() == ["failed"]  # a test delivery is tried once
    delivery.refresh_from_db()
    assert delivery.attempts[0]["status_code"] == 302
    assert target.received.empty(), "the redirect was followed"


def test_a_host_name_that_resolves_to_a_private_address_is_refused(api, resolver):
    resolver["hooks.example.test"] = lambda: "10.0.0.7"
    response = api.post(
        "/api/webhooks/", {"url": "http://hooks.example.test/hook", "events": ["job.completed"]}, format="json"
    )
    message = response.json()["url"][0]
    # Says why without the address, so the refusal cannot be used to map internal DNS.
    assert response.status_code == 400 and "resolves to a private address" in message and "10.0.0.7" not in message
    assert not WebhookEndpoint.objects.exists()


def test_a_host_name_that_turns_private_after_registration_is_refused_at_delivery(api, resolver):
    answer = PUBLIC
    resolver["hooks.example.test"] = lambda: answer
    delivery = a_delivery_to(api, "http://hooks.example.test/hook")
    answer = "169.254.169.254"  # the DNS answer changes: now the metadata service
    connections: list[Any] = []
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> Any:
        connections.append(address)
        return real_connect(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        assert attempt_due() == ["refused"]
    assert not [a for a in connections if a[0] in (PUBLIC, "169.254.169.254")], "a connection was made"
    delivery.refresh_from_db()
    error = delivery.attempts[0]["error"]
    assert "resolves to a private address" in error and "169.254.169.254" not in error


def test_the_connection_goes_to_the_address_the_check_resolved(api, resolver, settings):
    """A name that answers the check with one address and a second lookup with another (DNS rebinding):
    the request must go where the check said, not wherever a later lookup points."""
    settings.CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE = True
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        resolver["rebind.example.test"] = lambda: "127.0.0.1"
        delivery = a_delivery_to(api, f"http://rebind.example.test:{port}/hook")
        lookups: list[str] = []

        def first_then_elsewhere() -> str:
            lookups.append("lookup")
            return "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"  # nothing listens there

        resolver["rebind.example.test"] = first_then_elsewhere
        assert attempt_due() == ["succeeded"]
        got = receiver.get()
    assert got.headers["Host"] == f"rebind.example.test:{port}"  # the name is kept for the receiver
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
