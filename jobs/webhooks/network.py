"""Outgoing webhook requests: only http(s), only public addresses, 5 s, no redirects, 64 KiB read.

The address is checked when an endpoint is registered and again at every delivery, and the request
goes to the address that was checked (SNI and Host keep the name), so a DNS answer that changes
between the check and the connection cannot point a delivery at an internal service.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings

TIMEOUT_SECONDS = 5.0
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "contentgen-webhooks/1"


class UnsafeUrl(Exception):
    """A URL a webhook may not be sent to; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is False for loopback, private, link-local (the 169.254.169.254 metadata service),
    # shared (100.64/10), reserved and unspecified addresses.
    return not ip.is_global or ip.is_multicast


def resolve(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("Only http and https URLs can receive webhooks.")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("The URL has no host name.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeUrl("The URL's port is not valid.") from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"The host name {host} could not be resolved.") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeUrl(f"The host name {host} could not be resolved.")
    if not settings.CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE:
        bad = [a for a in addresses if _forbidden(a)]
        if bad:
            raise UnsafeUrl(
                f"{host} resolves to {bad[0]}, a loopback, private, link-local or metadata address. "
                "Webhooks go to public addresses only (CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE=1 allows others)."
            )
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Target(scheme=parts.scheme, host=host, port=port, path=path, address=addresses[0])


@dataclass
class Response:
    status_code: int
    excerpt: str


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Response:
    """Raises UnsafeUrl or httpx.HTTPError; any status code is returned, redirects are not followed."""
    target = resolve(url)
    literal = f"[{target.address}]" if ":" in target.address else target.address
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    deadline = time.monotonic() + TIMEOUT_SECONDS
    with (
        httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client,
        client.stream(
            "POST",
            f"{target.scheme}://{literal}:{target.port}{target.path}",
            content=body,
            headers={
                **headers,
                "Host": host_header,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
            extensions={"sni_hostname": target.host},
        ) as response,
    ):
        received = bytearray()
        for chunk in response.iter_raw():
            received.extend(chunk)
            if len(received) >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                break
        return Response(
            status_code=response.status_code,
            excerpt=bytes(received[:200]).decode("utf-8", "replace"),
        )
