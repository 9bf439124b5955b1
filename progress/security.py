from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


class ClientOriginValidator(OriginValidator):
    """Browsers always send Origin, and it must be one of ALLOWED_HOSTS (no cross-site WebSocket
    hijacking with the session cookie). Programs send none and authenticate with a token, so a missing
    Origin is let through, where Channels' AllowedHostsOriginValidator would refuse every integration."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or bool(self.validate_origin(parsed_origin))


def allowed_hosts_origin_validator(application: Any) -> ClientOriginValidator:
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return ClientOriginValidator(application, allowed)
