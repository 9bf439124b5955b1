"""What a `run_worker` process runs beside its jobs: heartbeats, the reconciler, webhook deliveries, the
knowledge base's ingestion, a metrics port."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from contentgen import logs, metrics
from contentgen.resilience import Backoff
from jobs.core import workers
from jobs.runtime import reconcile
from jobs.sources.ingest import SourceLoop
from jobs.webhooks.delivery import DeliveryLoop

logger = logging.getLogger("jobs.sidecars")


class Sidecars:
    def __init__(
        self, worker: Any, *, metrics_port: int | None = None, metrics_address: str = "127.0.0.1"
    ) -> None:
        self.worker = worker
        logs.set_process_fields(worker_id=worker.worker_id)
        self.metrics_port = metrics_port
        self.metrics_address = metrics_address
        self.deliveries = DeliveryLoop(owner=worker.worker_id)
        self.sources = SourceLoop(owner=worker.worker_id)
        self.record = workers.new_beat(
            worker_id=worker.worker_id, concurrency=worker.concurrency, lease_seconds=worker.lease_seconds
        )
        self.done = threading.Event()
        self.beats = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        self.reconciling = threading.Thread(target=self._reconcile, name="reconciler", daemon=True)
        self._stop_metrics: Callable[[], None] | None = None

    def start(self) -> Sidecars:
        if self.metrics_port is not None:
            self._stop_metrics = metrics.serve(self.metrics_port, address=self.metrics_address)
        self.beats.start()
        self.reconciling.start()
        self.deliveries.start()
        self.sources.start()
        return self

    def _held(self) -> list[str]:
        with self.worker.lock:
            return [str(pk) for pk in self.worker.running]

    def _beat(self) -> None:
        # Three beats per lease: one late beat never makes a live worker look lost.
        interval = max(0.5, self.worker.lease_seconds / 3.0)
        while True:
            try:
                workers.beat(self.record, jobs=self._held(), stopping=self.worker.stopping.is_set())
            except Exception:
                logger.exception("heartbeat failed")
            if self.done.wait(interval):
                return

    def _reconcile(self) -> None:
        """A pass at start, then one every CONTENTGEN_RECONCILE_SECONDS. Its own thread: a pass that fails
        (an outage, a conflict it could not get past) is retried with backoff and never holds up claiming."""
        reconciler = reconcile.Reconciler()
        retry = Backoff(base=1.0, cap=30.0)
        delay = 0.0
        while not self.done.wait(delay):
            try:
                reconciler.run()
            except Exception as exc:
                logger.warning("reconcile pass failed (%s: %s); retrying", type(exc).__name__, exc)
                delay = retry.next_delay()
                continue
            finally:
                close_old_connections()
            retry.reset()
            delay = float(settings.CONTENTGEN_RECONCILE_SECONDS)

    def stop(self) -> None:
        self.done.set()
        self.deliveries.stop()
        self.sources.stop()
        self.beats.join(5)
        self.reconciling.join(10)  # a burst worker still finishes the pass it began at start
        workers.forget(self.worker.worker_id)
        if self._stop_metrics is not None:
            self._stop_metrics()
