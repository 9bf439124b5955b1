"""The project's own system checks (registered by contentgen.apps.ContentgenConfig)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def https_is_configured(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """`check --deploy` names the one switch behind Django's separate HTTPS warnings."""
    if settings.DEBUG or settings.SESSION_COOKIE_SECURE:
        return []
    return [
        Warning(
            "DJANGO_SECURE is not set: session and CSRF cookies are not Secure, plain HTTP is not redirected "
            "and there is no HSTS.",
            hint="Serve over HTTPS and set DJANGO_SECURE=1; behind a TLS proxy, CONTENTGEN_TRUSTED_PROXIES "
            "as well.",
            id="contentgen.W001",
        )
    ]
