"""Prometheus metrics shared by every process, and the text exposition for /metrics and workers.

With PROMETHEUS_MULTIPROC_DIR set (several web processes on a host), prometheus-client keeps each
process's samples in files there and the exposition sums them; without it, this process's registry.
Apps add scrape-time collectors (values read from the database when scraped) with `add_collector`.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

EVENTS_PUBLISHED = Counter(
    "contentgen_events_published",
    "Events appended to the log and pushed to the channel layer.",
    ["scope", "type"],
)
STREAMS_OPEN = Gauge(
    "contentgen_streams_open",
    "Open live streams in web processes, by transport (sse, websocket).",
    ["transport"],
    multiprocess_mode="livesum",
)
EVENT_SEND_DELAY = Histogram(
    "contentgen_event_send_delay_seconds",
    "From an event's creation to its send on a live stream.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CHANNEL_LAYER_ERRORS = Counter(
    "contentgen_channel_layer_errors", "Channel-layer operations that failed.", ["operation"]
)

_collectors: list[Collector] = []


def add_collector(collector: Collector) -> None:
    """A collector evaluated at scrape time (e.g. jobs by status), in the web processes' exposition."""
    _collectors.append(collector)


def exposition(*, extra: bool = True) -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    if not extra:
        return generate_latest(registry)
    scrape = CollectorRegistry(auto_describe=False)
    for collector in _collectors:
        scrape.register(collector)
    return generate_latest(registry) + generate_latest(scrape)


def token_matches(header: str) -> bool:
    """`Authorization: Bearer <CONTENTGEN_METRICS_TOKEN>`, compared in constant time."""
    token = str(settings.CONTENTGEN_METRICS_TOKEN or "")
    scheme, _, given = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth a log line each."""


def serve(port: int, *, address: str = "127.0.0.1") -> Callable[[], None]:
    """This process's metrics on http://address:port/metrics, in a daemon thread; returns a stop function.

    With CONTENTGEN_METRICS_TOKEN set a scrape needs it as a bearer token; without one, only loopback
    addresses may be bound, because there is no staff session to check here.
    """
    if not settings.CONTENTGEN_METRICS_TOKEN and address not in ("127.0.0.1", "::1", "localhost"):
        raise ValueError("A metrics port on a non-loopback address needs CONTENTGEN_METRICS_TOKEN.")

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if settings.CONTENTGEN_METRICS_TOKEN and not token_matches(environ.get("HTTP_AUTHORIZATION", "")):
            start_response(
                "401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")]
            )
            return [b"metrics need Authorization: Bearer <CONTENTGEN_METRICS_TOKEN>\n"]
        body = exposition(extra=False)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]

    server = make_server(address, port, app, server_class=WSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    # The bound port: with port 0 the system chose it, and this line is where a caller finds it.
    logger.info("metrics on http://%s:%d/metrics", address, server.server_port)

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop
