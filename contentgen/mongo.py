"""Raw pymongo access on Django's connection, and multi-document transactions where the server has them."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models
from pymongo import monitoring
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError

T = TypeVar("T")
M = TypeVar("M", bound=models.Model)
_supported: bool | None = None
TRANSACTION_ATTEMPTS = 20


def collection(name: str) -> Collection[dict[str, Any]]:
    """A raw pymongo collection on Django's connection, for single-document conditional writes."""
    return cast(Collection[dict[str, Any]], cast(Any, connection).get_collection(name))


def between(lo: Any, hi: Any) -> dict[str, Any]:
    """A range filter [lo, hi) for raw reads; a None end is open. Empty when both are."""
    found = {}
    if lo is not None:
        found["$gte"] = lo
    if hi is not None:
        found["$lt"] = hi
    return found


def db_values(model: type[models.Model], changes: dict[str, Any]) -> dict[str, Any]:
    """Field values as the ORM stores them (by column; embedded models as documents), for raw updates."""
    values = {}
    for name, value in changes.items():
        field = model._meta.get_field(name)
        values[cast(Any, field).column] = cast(Any, field).get_db_prep_save(value, connection)
    return values


def instance(model: type[M], doc: dict[str, Any]) -> M:
    """A model instance from a stored document, converted as the ORM converts what it reads (as
    django-mongodb-backend's raw_aggregate does): for a document a raw read already holds."""
    fields, converters, compiler = _reader(model)
    row = [doc.get(column) for _, column in fields]
    if converters:
        row = next(iter(compiler.apply_converters([row], converters)))
    return model.from_db(connection.alias, [attname for attname, _ in fields], row)


def _reader(model: type[models.Model]) -> tuple[list[tuple[str, str]], Any, Any]:
    """The model's (attname, column) pairs and the ORM's converters for them, once per connection (the
    converters belong to the connection of the thread that reads)."""
    cache = connections[DEFAULT_DB_ALIAS].__dict__.setdefault("_contentgen_readers", {})
    if model not in cache:
        concrete = model._meta.concrete_fields
        compiler = connection.ops.compiler("SQLCompiler")(
            model._base_manager.all().query, connection, connection.alias
        )
        converters = compiler.get_converters([field.get_col(model._meta.db_table) for field in concrete])
        cache[model] = ([(f.attname, cast(Any, f).column) for f in concrete], converters, compiler)
    return cast(tuple[list[tuple[str, str]], Any, Any], cache[model])


def database() -> Database[dict[str, Any]]:
    """The project's database on Django's connection."""
    return cast(Database[dict[str, Any]], cast(Any, connection).database)


def session() -> ClientSession | None:
    """The session of the transaction this thread is in, if any: raw writes pass it to join in."""
    return cast(Any, connection).session


def in_transaction() -> bool:
    return session() is not None


def transactions_supported() -> bool:
    """Replica sets, sharded clusters and the embedded SecantusDB have them; a standalone mongod does not."""
    global _supported
    if _supported is None:
        _supported = bool(cast(Any, connection).features._supports_transactions)
    return _supported


@contextlib.contextmanager
def _transaction() -> Iterator[None]:
    conn = cast(Any, connection)
    if conn.in_atomic_block_mongo:
        yield  # nested: part of the outer transaction
        return
    conn.start_transaction_mongo()
    conn.in_atomic_block_mongo = True
    try:
        yield
        conn.in_atomic_block_mongo = False
        conn.session.commit_transaction()
    except BaseException:
        conn.in_atomic_block_mongo = False
        _discard(conn)
        raise
    conn._end_session()
    conn.run_and_clear_commit_hooks()


def _discard(conn: Any) -> None:
    conn.run_on_commit = []
    if conn.session is not None:
        with contextlib.suppress(PyMongoError):
            if conn.session.in_transaction:
                conn.session.abort_transaction()
        with contextlib.suppress(PyMongoError):
            conn.session.end_session()
        conn.session = None


def atomic(body: Callable[[], T], *, attempts: int = TRANSACTION_ATTEMPTS) -> T:
    """Run `body` as one transaction when the server supports them, else as plain sequential writes.

    Retried from the start on a write conflict or a duplicate key (a concurrent writer took the
    event seq `body` computed), so `body` must read what it needs inside. Work to do after the
    commit (pushing events) is registered with `django.db.transaction.on_commit`; it runs at once
    when there is no transaction. Other transient faults propagate to the caller's retry.
    """
    for attempt in range(attempts):
        try:
            if not transactions_supported():
                return body()
            with _transaction():
                return body()
        except (PyMongoError, DatabaseError) as exc:
            if attempt == attempts - 1 or not _retry_here(exc):
                raise
        time.sleep(random.uniform(0.0, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")


def _retry_here(exc: BaseException) -> bool:
    """A conflict is retried here at once; an outage is left to the caller's bounded retry."""
    return isinstance(_pymongo_cause(exc), DuplicateKeyError) or conflicted(exc)


def _pymongo_cause(exc: BaseException) -> BaseException | None:
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, PyMongoError):
        cause = cause.__cause__
    return cause


def conflicted(exc: BaseException) -> bool:
    """A write conflict with another transaction (not an outage): retrying later, or elsewhere, can work."""
    cause = _pymongo_cause(exc)
    return (
        isinstance(cause, PyMongoError)
        and not isinstance(cause, ConnectionFailure)
        and cause.has_error_label("TransientTransactionError")
    )


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
