"""Who is watching a stream: the session's user, else a DRF token's. One rule for SSE and WebSocket."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


def token_key(authorization: str, query_token: str | None = None) -> str:
    """The key of `Authorization: Token <key>`, else `?token=` (browsers cannot set WebSocket headers)."""
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() == "token":
        return key.strip()
    return (query_token or "").strip()


def _token_user(key: str) -> Any:
    try:
        return TokenAuthentication().authenticate_credentials(key)[0]
    except AuthenticationFailed:
        return None


async def stream_user(*, session_user: Any, authorization: str = "", query_token: str | None = None) -> Any:
    """The authenticated user, or None."""
    if session_user is not None and session_user.is_authenticated:
        return session_user
    key = token_key(authorization, query_token)
    if not key:
        return None
    return await sync_to_async(_token_user, thread_sensitive=False)(key)
