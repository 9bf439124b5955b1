"""Server-side requests to addresses a user named: public addresses only, redirects checked, capped.

Interim version until the guard of issue 16 lands: the same API, the address checks of the webhooks'.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx


class OutboundError(Exception):
    """A request refused or failed, with a message a person can act on."""


@dataclass(frozen=True)
class Fetched:
    status: int
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def _check(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError(f"Only http and https addresses can be fetched: {url[:120]}")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError as exc:
        raise OutboundError(f"{parts.hostname} does not resolve.") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise OutboundError(f"{parts.hostname} resolves to a private address.")


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    deadline: float = 20.0,
    max_bytes: int = 20 * 1024 * 1024,
    follow_redirects: int = 0,
    allow_private: bool = False,
) -> Fetched:
    end = time.monotonic() + deadline
    with httpx.Client(timeout=min(deadline, 10.0), trust_env=False) as client:
        for _hop in range(follow_redirects + 1):
            _check(url, allow_private)
            with client.stream(method, url, headers=dict(headers or {}), content=body) as response:
                if response.is_redirect and "location" in response.headers and follow_redirects:
                    url = urljoin(url, response.headers["location"])
                    continue
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise OutboundError(f"The response is larger than {max_bytes} bytes.")
                    if time.monotonic() > end:
                        raise OutboundError(f"The server took longer than {deadline:.0f} s.")
                    chunks.append(chunk)
                return Fetched(response.status_code, url, b"".join(chunks), dict(response.headers))
    raise OutboundError("Too many redirects.")
