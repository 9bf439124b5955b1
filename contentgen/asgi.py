"""ASGI entry point (daphne or uvicorn): the progress streams on their lean path, everything else Django.

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

from jobs.live.routes import stream_routes  # noqa: E402
from jobs.routing import websocket_urlpatterns  # noqa: E402
from progress.asgi import StreamRouter  # noqa: E402
from progress.security import allowed_hosts_origin_validator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": StreamRouter(stream_routes(), django_asgi_app),
        "websocket": allowed_hosts_origin_validator(URLRouter(websocket_urlpatterns)),
    }
)

# What starting made (Django, the URLconf, the apps) lives as long as the process: frozen, the garbage
# collector's full passes skip it, so they pause the streams far less often and for less long.
gc.collect()
gc.freeze()
# The open streams' objects are not frozen (a closed stream's must be collected), and with Python's
# default thresholds (700, 10, 10) the collector's older passes traversed them every few seconds: pauses
# of 19-62 ms under 1,000 streams, the tail of their latency (a callback on gc.callbacks timed them). A
# young generation of 10,000 objects lets most of a stream's short-lived objects die before a pass, so
# the older passes all but stop (one of 24-29 ms in 8 s, against two full passes and 16 others).
gc.set_threshold(10_000, 10, 10)
