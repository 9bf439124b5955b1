"""Who is watching a stream: the session's user, else a DRF token's. One rule for SSE and WebSocket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

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


async def stream_user(
    *, session_user: Any, authorization: str = "", subprotocols: Sequence[str] = ()
) -> Any:
    """The authenticated user, or None."""
    if session_user is not None and session_user.is_authenticated:
        return session_user
    key = token_key(authorization, subprotocols)
    if not key:
        return None
    return await sync_to_async(_token_user, thread_sensitive=False)(key)
