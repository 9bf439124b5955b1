"""ASGI entry point (daphne or uvicorn): the progress streams on their lean path, everything else Django.

Every connection first passes the edge (contentgen.edge): forwarded headers count only from
CONTENTGEN_TRUSTED_PROXIES, and an HTTP body over the limit is refused with 413 as it arrives.
HTTP: the SSE streams (`/api/jobs/<id>/progress`, `/api/bulk-jobs/<id>/progress`, `/jobs/<id>/live`,
`/bulk/<id>/live`, `/live`) are served by progress.asgi.StreamRouter without Django's request stack;
every other request goes to Django. WebSocket: `/ws/jobs/<id>/` through Channels, behind the Origin
check; the consumer authenticates from the cookie or token itself, with the streams' cached lookups.
"""

from __future__ import annotations

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contentgen.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from contentgen.edge import BodyLimit, TrustedProxies  # noqa: E402
from jobs.live.routes import stream_routes  # noqa: E402
from jobs.routing import websocket_urlpatterns  # noqa: E402
from progress.asgi import StreamRouter  # noqa: E402
from progress.security import same_origin_validator  # noqa: E402

application = TrustedProxies(
    ProtocolTypeRouter(
        {
            "http": BodyLimit(StreamRouter(stream_routes(), django_asgi_app)),
            "websocket": same_origin_validator(URLRouter(websocket_urlpatterns)),
        }
    ),
    settings.CONTENTGEN_TRUSTED_PROXIES,
)

# What starting made (Django, the URLconf, the apps) lives as long as the process: frozen, the garbage
# collector's full passes skip it, so they pause the streams far less often and for less long.
gc.collect()
gc.freeze()
# The open streams' objects cannot be frozen (a closed stream's must be collected), and the collector's
# older passes over them pause every stream at once: a young generation of 10,000 objects lets most of a
# stream's short-lived objects die before a pass, so those passes all but stop (docs/measurements.md).
gc.set_threshold(10_000, 10, 10)
