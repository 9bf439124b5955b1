"""Who is watching a stream: the session's user, else a DRF token's. One rule for SSE and WebSocket.

Lookups are cached for a few seconds per process (AUTH_TTL), so a stream opened again, or many opened
at once with the same credentials, costs no database read. A change (logout, a user saved, a token saved
or deleted: see progress.apps) is announced on the hubs' Redis channel, and every web process drops the
entries it concerns; AUTH_TTL bounds what a lost notice could leave behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from http.cookies import SimpleCookie
from importlib import import_module
from types import SimpleNamespace
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from progress.hub import NOTICE_HANDLERS, tell_every_process
from progress.ttlcache import TtlCache

AUTH_TTL = 10.0
_users: TtlCache[Any] = TtlCache(ttl=AUTH_TTL)


TOKEN_SUBPROTOCOL = "token"


def token_key(authorization: str, subprotocols: Sequence[str] = ()) -> str:
    """The key of `Authorization: Token <key>`, else of the WebSocket subprotocols `["token", "<key>"]`
    (a browser cannot set WebSocket headers). Never from the URL: servers and proxies log URLs."""
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() == "token":
        return key.strip()
    if len(subprotocols) == 2 and subprotocols[0] == TOKEN_SUBPROTOCOL:
        return subprotocols[1].strip()
    return ""


def _token_user(key: str) -> Any:
    try:
        return TokenAuthentication().authenticate_credentials(key)[0]
    except AuthenticationFailed:
        return None


def _session_user(session_key: str) -> Any:
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = get_user(SimpleNamespace(session=store))  # type: ignore[arg-type]
    return user if user.is_authenticated else None


async def token_user(key: str) -> Any:
    """The active user of a DRF token, or None; cached."""
    return await _users.get(("token", key), lambda: sync_to_async(_token_user, thread_sensitive=False)(key))


async def session_user(session_key: str) -> Any:
    """The user logged in with this session cookie, or None; cached."""
    return await _users.get(
        ("session", session_key), lambda: sync_to_async(_session_user, thread_sensitive=False)(session_key)
    )


def session_key_from(cookie_header: str) -> str:
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except Exception:  # a malformed Cookie header is no session at all
        return ""
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    return morsel.value if morsel is not None else ""


async def stream_user(*, session_user: Any, authorization: str = "", subprotocols: Sequence[str] = ()) -> Any:
    """The authenticated user, or None."""
    if session_user is not None and session_user.is_authenticated:
        return session_user
    key = token_key(authorization, subprotocols)
    if not key:
        return None
    return await token_user(key)


async def credentials_user(*, cookie: str, token: str) -> Any:
    """The session cookie's user, else the token's, else None (the lean stream path: no request object)."""
    session_key = session_key_from(cookie) if cookie else ""
    if session_key:
        user = await session_user(session_key)
        if user is not None:
            return user
    return await token_user(token) if token else None


async def viewer_status(user: Any, *, session_key: str = "", token: str = "", staff: bool = False) -> int:
    """Whether the credentials a stream was opened with still give it to `user`: 0 yes; 401 when they
    authenticate no one now (logout, a deleted token, deactivation, a changed password) or someone else; 403
    when `staff` is needed and `user` lost it. The lookups are the cached ones: a change announced by
    `forget_*` is seen at once, a lost announcement within AUTH_TTL."""
    current = await session_user(session_key) if session_key else None
    if current is None and token:
        current = await token_user(token)
    if current is None or current.pk != user.pk:
        return 401
    if staff and not current.is_staff:
        return 403
    return 0


def forget_session(session_key: str | None) -> None:
    if session_key:
        _announce({"forget": "session", "key": session_key})


def forget_token(key: str) -> None:
    _announce({"forget": "token", "key": key})


def forget_user(user_id: Any) -> None:
    _announce({"forget": "user", "key": str(user_id)})


def _announce(notice: dict[str, Any]) -> None:
    _forget(notice)  # here at once; the other processes when their hub hears it
    tell_every_process(notice)


def _forget(notice: dict[str, Any]) -> None:
    """A change made in any process: drop what it concerns here (each process's hub receives it)."""
    kind, key = notice.get("forget"), notice.get("key")
    if kind in ("session", "token"):
        _users.drop((kind, key))
    elif kind == "user":
        _users.drop_where(lambda _key, user: user is not None and str(user.pk) == key)


NOTICE_HANDLERS.append(_forget)
