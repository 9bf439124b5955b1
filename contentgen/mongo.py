from __future__ import annotations

import threading
from collections import Counter
from typing import Any, cast

from django.db import connection, models
from pymongo import monitoring
from pymongo.collection import Collection
from pymongo.database import Database


def collection(name: str) -> Collection[dict[str, Any]]:
    """A raw pymongo collection on Django's connection, for single-document conditional writes."""
    return cast(Collection[dict[str, Any]], cast(Any, connection).get_collection(name))


def db_values(model: type[models.Model], changes: dict[str, Any]) -> dict[str, Any]:
    """Field values as the ORM stores them (by column; embedded models as documents), for raw updates."""
    values = {}
    for name, value in changes.items():
        field = model._meta.get_field(name)
        values[cast(Any, field).column] = cast(Any, field).get_db_prep_save(value, connection)
    return values


def database() -> Database[dict[str, Any]]:
    """The project's database on Django's connection."""
    return cast(Database[dict[str, Any]], cast(Any, connection).database)


class CommandCounter(monitoring.CommandListener):
    """Database commands this process sent, by name: /metrics shows them (reads per stream opened)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            self.counts[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


commands = CommandCounter()
# Registered at import, before Django opens its client (on the first query): clients made later see it.
monitoring.register(commands)
