from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from jobs.runtime.worker import Worker

# --verbosity 0 shows warnings only, 1 (the default) each claim and hand-back, 2 and 3 everything.
LOG_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}


class Command(BaseCommand):
    help = "Claim and run generation jobs. SIGTERM: stop claiming, hand running jobs back, exit 0."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--concurrency",
            type=int,
            default=settings.CONTENTGEN_WORKER_CONCURRENCY,
            help="jobs run at once in this process (default: CONTENTGEN_WORKER_CONCURRENCY)",
        )
        parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=None,
            help="serve this worker's Prometheus metrics on this port (0: a free one, logged)",
        )
        parser.add_argument(
            "--metrics-address",
            default="127.0.0.1",
            help="address for --metrics-port; other than loopback it needs CONTENTGEN_METRICS_TOKEN",
        )

    def handle(
        self,
        *args: Any,
        concurrency: int,
        burst: bool,
        metrics_port: int | None = None,
        metrics_address: str = "127.0.0.1",
        verbosity: int = 1,
        **options: Any,
    ) -> None:
        logging.getLogger().setLevel(LOG_LEVELS.get(verbosity, logging.DEBUG))
        worker = Worker(
            concurrency=concurrency, burst=burst, metrics_port=metrics_port, metrics_address=metrics_address
        )
        worker.install_signal_handlers()
        raise SystemExit(worker.run())
