"""The delivery loop each `run_worker` process runs beside its jobs.

A Redis message on WAKE_CHANNEL wakes it the moment an event is recorded (the first attempt goes out
within a second); otherwise it sleeps until the next retry is due, at most IDLE_MAX seconds, so a lost
notification or a Redis outage delays a delivery by seconds, never loses it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from django.db import close_old_connections

from contentgen.redisconn import client
from jobs.models import WebhookDelivery
from jobs.webhooks import services

logger = logging.getLogger(__name__)

IDLE_MAX = 5.0
SENDERS = 4


class DeliveryLoop:
    def __init__(self, *, owner: str, senders: int = SENDERS) -> None:
        self.owner = owner
        self.stopping = threading.Event()
        # Set by a sender that finished while every sender was busy: look for more due deliveries now.
        self.slot_freed = threading.Event()
        self.free = threading.Semaphore(senders)
        self.senders = senders
        self.pool = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="webhook")
        self.thread = threading.Thread(target=self._run, name="webhook-delivery", daemon=True)
        self._pubsub: Any = None

    def start(self) -> DeliveryLoop:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.slot_freed.set()
        services.notify()  # the loop may be waiting for a notification: let it see `stopping` now
        self.thread.join(timeout)
        self.pool.shutdown(wait=True)

    def _subscribe(self) -> None:
        try:
            self._pubsub = client().pubsub(ignore_subscribe_messages=True)
            self._pubsub.subscribe(services.WAKE_CHANNEL)
        except redis.RedisError as exc:
            logger.warning("no webhook notifications (%s); checking every %.0f s", exc, IDLE_MAX)
            self._pubsub = None

    def _wait(self, timeout: float) -> None:
        if self._pubsub is None:
            self.stopping.wait(timeout)
            self._subscribe()
            return
        try:
            self._pubsub.get_message(timeout=timeout)
            # Drain a burst of notifications: one pass claims everything that is due.
            while self._pubsub.get_message(timeout=0) is not None:
                pass
        except redis.RedisError:
            self._pubsub = None
            self.stopping.wait(timeout)

    def _free_slots(self) -> int:
        slots = 0
        while self.free.acquire(blocking=False):
            slots += 1
        return slots

    def _run(self) -> None:
        self._subscribe()
        while not self.stopping.is_set():
            slots = self._free_slots()
            claimed: list[WebhookDelivery] = []
            try:
                close_old_connections()
                if slots:
                    claimed = services.delivery_claim(owner=self.owner, limit=slots)
                wait = 0.0 if len(claimed) == slots and slots else services.next_due_in(default=IDLE_MAX)
            except Exception:
                logger.exception("webhook delivery loop: claiming failed")
                wait = IDLE_MAX
            for _ in range(slots - len(claimed)):
                self.free.release()
            for delivery in claimed:
                self.pool.submit(self._deliver, delivery)
            if not slots:
                self.slot_freed.wait(IDLE_MAX)
                self.slot_freed.clear()
            elif wait > 0:
                self._wait(max(0.05, wait))
        if self._pubsub is not None:
            with contextlib.suppress(redis.RedisError):
                self._pubsub.close()

    def _deliver(self, delivery: WebhookDelivery) -> None:
        try:
            services.delivery_attempt(delivery=delivery, owner=self.owner)
        except Exception:
            logger.exception("webhook delivery %s failed unexpectedly", delivery.pk)
        finally:
            close_old_connections()
            self.free.release()
            self.slot_freed.set()
