"""Who may open a WebSocket: a browser only from a page of this site, a program with its token.

A browser always sends Origin and may carry the session cookie along, so its Origin must be the socket's
own (scheme, host and port, the Host being one of ALLOWED_HOSTS) or one of CSRF_TRUSTED_ORIGINS, matched
exactly as Django's CSRF check matches them. Comparing the host alone let any scheme and port through, and
everything once ALLOWED_HOSTS was `*`. Programs send no Origin and authenticate with a token, so a missing
Origin is let through (the consumer still needs credentials).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


def host_allowed(host: str) -> bool:
    """Django's ALLOWED_HOSTS rule, as `HttpRequest.get_host` applies it."""
    domain, _port = split_domain_port(host)
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


def origin(text: str) -> Origin | None:
    """(scheme, host, port) of `scheme://host[:port]`, the default port filled in; None for anything else
    (a browser's `null`, a path, another scheme)."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _trusted(seen: Origin) -> bool:
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        wanted = origin(entry.replace("://*.", "://wildcard.", 1))
        if wanted is None:
            continue
        scheme, host, port = wanted
        if "://*." in entry:
            suffix = host.removeprefix("wildcard")
            if (seen[0], seen[2]) == (scheme, port) and seen[1].endswith(suffix):
                return True
        elif seen == wanted:
            return True
    return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    headers = {name.lower(): value.decode("latin-1") for name, value in scope.get("headers") or []}
    given = headers.get(b"origin")
    if given is None:
        return True
    seen = origin(given)
    if seen is None:
        return False
    host = headers.get(b"host", "")
    own = origin(f"{'https' if scope.get('scheme') in ('wss', 'https') else 'http'}://{host}")
    return (seen == own and host_allowed(host)) or _trusted(seen)


class SameOriginValidator:
    """Refuses (HTTP 403 at the handshake) a WebSocket whose Origin `origin_allowed` refuses."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def same_origin_validator(application: Any) -> SameOriginValidator:
    return SameOriginValidator(application)
