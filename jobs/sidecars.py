"""What a `run_worker` process runs beside its jobs: heartbeats, webhook deliveries, a metrics port."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from contentgen import logs, metrics
from jobs import heartbeat
from jobs.webhooks.delivery import DeliveryLoop

logger = logging.getLogger(__name__)


class Sidecars:
    def __init__(
        self, worker: Any, *, metrics_port: int | None = None, metrics_address: str = "127.0.0.1"
    ) -> None:
        self.worker = worker
        logs.set_process_fields(worker_id=worker.worker_id)
        self.metrics_port = metrics_port
        self.metrics_address = metrics_address
        self.deliveries = DeliveryLoop(owner=worker.worker_id)
        self.record = heartbeat.new_beat(
            worker_id=worker.worker_id, concurrency=worker.concurrency, lease_seconds=worker.lease_seconds
        )
        self.done = threading.Event()
        self.beats = threading.Thread(target=self._beat, name="ops-heartbeat", daemon=True)
        self._stop_metrics: Callable[[], None] | None = None

    def start(self) -> Sidecars:
        if self.metrics_port is not None:
            self._stop_metrics = metrics.serve(self.metrics_port, address=self.metrics_address)
        self.beats.start()
        self.deliveries.start()
        return self

    def _held(self) -> list[str]:
        with self.worker.lock:
            return [str(pk) for pk in self.worker.running]

    def _beat(self) -> None:
        # Three beats per lease: one late beat never makes a live worker look lost.
        interval = max(0.5, self.worker.lease_seconds / 3.0)
        while True:
            try:
                heartbeat.beat(self.record, jobs=self._held())
            except Exception:
                logger.exception("heartbeat failed")
            if self.done.wait(interval):
                return

    def stop(self) -> None:
        self.done.set()
        self.deliveries.stop()
        self.beats.join(5)
        heartbeat.forget(self.worker.worker_id)
        if self._stop_metrics is not None:
            self._stop_metrics()
