"""Every request the server sends to a URL that a user chose: webhook deliveries now, the research stage's
pages later. One guard for all of them (docs/security.md, "Outbound requests"):

- http and https only; the host is resolved and EVERY address it resolves to must be public, else nothing is
  sent. The refusal names the host, never the address, so answers cannot be used to map internal DNS.
- The connection goes to the address that was checked (TLS SNI, certificate and Host keep the name), so a DNS
  answer that changes between the check and the connection cannot point the request somewhere else.
- No redirect is followed unless asked (GET only), and then every hop is checked again.
- ONE deadline covers resolving, connecting, sending and reading headers and body: httpx's timeouts apply per
  read, so a receiver trickling a header byte every few seconds held a thread for as long as it liked.
- The body is capped, and decompressed here under the same cap (a gzip bomb stops at the cap).

`allow_private` (webhooks: CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE; tests on loopback) lifts the rule for loopback
and private networks, never for link-local addresses, where cloud metadata services answer (169.254.169.254).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urljoin

import certifi
import httpcore
import httpx

DEFAULT_DEADLINE = 10.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "contentgen/1"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# IPv6 ranges that carry an IPv4 address (NAT64, 6to4, Teredo, IPv4-compatible, IPv4-mapped): on a DNS64/NAT64
# network they reach IPv4 hosts, and Python 3.11's is_global calls most of them global.
TRANSLATED = tuple(
    ipaddress.IPv6Network(net)
    for net in ("::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32")
)
# Refused even with allow_private: link-local (cloud metadata services), site-local, multicast, unspecified.
NEVER = tuple(ipaddress.ip_network(net) for net in ("169.254.0.0/16", "fe80::/10", "fec0::/10"))


class OutboundError(Exception):
    """A request that got no answer, with a message a person can act on. `reason`: `url` (not an http(s) URL),
    `unresolved`, `private` (an address that is not allowed), `timeout`, `connect`, `broken` (the connection
    or the HTTP broke off), `too_large`, `encoding`, `redirects`."""

    REFUSED = frozenset({"url", "unresolved", "private"})

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason

    @property
    def refused(self) -> bool:
        """Nothing was sent: the URL or its address is not allowed, or the host has no address."""
        return self.reason in self.REFUSED

    @property
    def timed_out(self) -> bool:
        return self.reason == "timeout"


@dataclass(frozen=True)
class Fetched:
    """An answer: any status (3xx included when redirects are not followed); header names in lower case;
    `body` decompressed; `url` the last hop's; `truncated` when `truncate` cut the body at the cap."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str
    truncated: bool = False


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4, Teredo (the client's), NAT64 or IPv4-compatible one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in TRANSLATED):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def allowed(address: str | IPAddress, *, allow_private: bool = False) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in TRANSLATED):
        inner = embedded_ipv4(ip)
        return allow_private and inner is not None and allowed(inner, allow_private=True)
    if ip.is_multicast or ip.is_unspecified or any(ip in net for net in NEVER):
        return False
    # is_global is False for loopback, private networks, shared (100.64/10), reserved and documentation.
    return allow_private or ip.is_global


def _target(url: str) -> tuple[httpx.URL, str, int]:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, UnicodeError) as exc:
        raise OutboundError("The URL is not valid.", reason="url") from exc
    if parsed.scheme not in ("http", "https"):
        raise OutboundError("Only http and https URLs are allowed.", reason="url")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise OutboundError("The URL has no host name.", reason="url")
    return parsed, host, parsed.port or (443 if parsed.scheme == "https" else 80)


def _checked(host: str, infos: list[Any], *, allow_private: bool) -> list[str]:
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise OutboundError(f"The host name {host} could not be resolved.", reason="unresolved")
    if not all(allowed(address, allow_private=allow_private) for address in addresses):
        raise OutboundError(
            f"{host} resolves to a private address; requests go to public addresses only.", reason="private"
        )
    return addresses


def check_url(url: str, *, allow_private: bool = False) -> list[str]:
    """The addresses a request to `url` may go to, or OutboundError (refused): for checking a URL when it is
    registered. The request itself checks again."""
    _parsed, host, port = _target(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise OutboundError(f"The host name {host} could not be resolved.", reason="unresolved") from exc
    return _checked(host, infos, allow_private=allow_private)


# Resolving blocks in a thread. A pool of our own: asyncio.run would wait for its loop's default executor to
# finish a slow lookup after the deadline.
_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="outbound-dns")


async def _resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.run_in_executor(
            _resolver, lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        )
    except (OSError, UnicodeError) as exc:
        raise OutboundError(f"The host name {host} could not be resolved.", reason="unresolved") from exc
    return _checked(host, infos, allow_private=allow_private)


class _Pinned(httpcore.AsyncNetworkBackend):
    """Connects to the checked addresses (the first that answers) whatever the URL's host; httpcore keeps the
    name for SNI and Host."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        for address in self.addresses[:-1]:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError:
                continue
        return await self.inner.connect_tcp(
            self.addresses[-1],
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundError("Unix sockets are not allowed.", reason="url")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


@cache
def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


def _size(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MiB" if limit >= 1024 * 1024 else f"{limit / 1024:g} KiB"


async def _body(
    response: httpcore.Response, headers: dict[str, str], max_bytes: int, truncate: bool
) -> tuple[bytes, bool]:
    """The body, decompressed (gzip, deflate) with at most `max_bytes` kept: over it, an error, or
    (`truncate`) the first `max_bytes` and True."""
    too_large = OutboundError(f"The answer is larger than {_size(max_bytes)}.", reason="too_large")
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes and not truncate:
        raise too_large
    encoding = headers.get("content-encoding", "identity").strip().lower()
    decoder = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib framing, told by the header
    elif encoding not in ("", "identity") and not truncate:
        raise OutboundError(
            f"The answer's Content-Encoding {encoding[:40]!r} is not supported.", reason="encoding"
        )
    out, received = bytearray(), 0
    try:
        async for chunk in response.aiter_stream():
            received += len(chunk)
            if decoder is None:
                out += chunk
            else:
                out += decoder.decompress(chunk, max_bytes + 1 - len(out))
            if len(out) > max_bytes or received > max_bytes:
                if not truncate:
                    raise too_large
                return bytes(out[:max_bytes]), True
        if decoder is not None:
            out += decoder.flush()[: max_bytes + 1 - len(out)]
    except zlib.error as exc:
        if not truncate:
            raise OutboundError(f"The answer's {encoding} body is corrupt.", reason="encoding") from exc
    if len(out) > max_bytes:
        if not truncate:
            raise too_large
        return bytes(out[:max_bytes]), True
    return bytes(out), False


def _request_headers(headers: Mapping[str, str] | None, body: bytes | None) -> list[tuple[str, str]]:
    merged = {
        "user-agent": ("User-Agent", USER_AGENT),
        "accept-encoding": ("Accept-Encoding", "gzip, deflate"),
    }
    for name, value in (headers or {}).items():
        merged[name.lower()] = (name, value)
    if body is not None:
        merged["content-length"] = ("Content-Length", str(len(body)))
    merged.pop("host", None)  # always the URL's own
    return list(merged.values())


async def _send(
    url: httpx.URL,
    host: str,
    addresses: list[str],
    *,
    method: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    deadline: float,
    max_bytes: int,
    truncate: bool,
    redirect_only: bool,
) -> Fetched:
    timeouts = {"connect": deadline, "read": deadline, "write": deadline, "pool": deadline}
    target = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)
    pool = httpcore.AsyncConnectionPool(
        ssl_context=_ssl_context(), network_backend=_Pinned(addresses), retries=0
    )
    try:
        async with (
            pool,
            pool.stream(
                method, target, headers=headers, content=body, extensions={"timeout": timeouts}
            ) as response,
        ):
            names = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
            if redirect_only and response.status in REDIRECT_STATUSES and "location" in names:
                return Fetched(response.status, names, b"", str(url))
            content, cut = await _body(response, names, max_bytes, truncate)
            return Fetched(response.status, names, content, str(url), cut)
    except httpcore.TimeoutException as exc:
        raise OutboundError(
            f"Timed out: no complete answer within {deadline:g} s.", reason="timeout"
        ) from exc
    except httpcore.ConnectError as exc:
        reason = str(exc) or exc.__class__.__name__
        for address in addresses:
            reason = reason.replace(address, host)
        raise OutboundError(f"Could not connect to {host}: {reason}"[:300], reason="connect") from exc
    except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
        raise OutboundError(
            f"{host} broke off the answer ({exc.__class__.__name__}).", reason="broken"
        ) from exc


async def afetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    deadline: float = DEFAULT_DEADLINE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    follow_redirects: int = 0,
    allow_private: bool = False,
    truncate: bool = False,
) -> Fetched:
    """One guarded request (the module's rules); `follow_redirects` hops at most, GET only.
    Raises OutboundError."""
    if follow_redirects and method != "GET":
        raise ValueError("Only GET requests follow redirects.")
    request_headers = _request_headers(headers, body)
    try:
        async with asyncio.timeout(deadline):
            current = url
            for _hop in range(follow_redirects + 1):
                parsed, host, port = _target(current)
                addresses = await _resolve(host, port, allow_private=allow_private)
                answer = await _send(
                    parsed,
                    host,
                    addresses,
                    method=method,
                    headers=request_headers,
                    body=body,
                    deadline=deadline,
                    max_bytes=max_bytes,
                    truncate=truncate,
                    redirect_only=bool(follow_redirects),
                )
                location = answer.headers.get("location") if follow_redirects else None
                if not (location and answer.status in REDIRECT_STATUSES):
                    return answer
                current = urljoin(str(parsed), location)
    except TimeoutError as exc:
        raise OutboundError(
            f"Timed out: no complete answer within {deadline:g} s.", reason="timeout"
        ) from exc
    raise OutboundError(f"More than {follow_redirects} redirects.", reason="redirects")


def fetch(url: str, **options: Any) -> Fetched:
    """`afetch` for synchronous callers (the workers' threads); not for use inside a running event loop."""
    return asyncio.run(afetch(url, **options))
