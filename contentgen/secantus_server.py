"""The embedded MongoDB: SecantusDB's own daemon, with two changes to its server.

**Abandoned transactions are reaped after 5 s.** A worker killed in the middle of a transaction leaves it
open on the server until the server reaps it, after 60 s by default (mongod's
`transactionLifetimeLimitSeconds`). Until then every write to a document it touched conflicts, so the dead
worker's job cannot be taken over for a minute. contentgen's transactions last milliseconds, so the
embedded server reaps them after TRANSACTION_LIFETIME_SECONDS. The daemon's command line has no flag for
it; its server class takes it as a keyword argument. On mongod, set `transactionLifetimeLimitSeconds`
(docs/deploy.md).

**Retryable writes' records are pruned oldest first.** The server records the reply to each retryable
write (pymongo makes every write retryable), for 30 minutes and up to 10,000 records, so that a driver's
retry gets the first reply. SecantusDB 0.7.0b3 prunes them on every write by reading all of them, and
once 10,000 are kept, by sorting all of them, under the lock every write takes. After 10,000 writes
each write paid for a sort of 10,000 records: `insert_one` ran 7 to 11 times slower
(bench/retry_records.py). `OldestFirstRegistry` keeps the records in the order they were stored, so a
prune reads only the records it drops and the first one it keeps. It keeps and drops the same records
as SecantusDB's own prune while the clock does not step back.

**A sub-document in `$project` is a nested projection.** mongod reads `{$project: {ct: {app_label: 1}}}`
as `{"ct.app_label": 1}`, as `find` does here too; SecantusDB 0.7.0b3's `$project` evaluated the
sub-document as a literal, so the stage answered `ct: {app_label: 1}`. django-mongodb-backend projects a
joined model's fields that way: `Permission.objects.values_list("content_type__app_label")` gave 1, and
every permission granted to a user or group read as "1.<codename>", so staff without the superuser flag
were refused the admin. `$project` now flattens such a sub-document into dotted leaves first, with `find`'s
own rule.

Usage: python -m contentgen.secantus_server <secantusd-py arguments>
"""

from __future__ import annotations

import functools
import sys
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from secantus import aggregate, cli, projection, server, transactions
from secantus.server import SecantusDBServer
from secantus.transactions import TransactionRegistry

TRANSACTION_LIFETIME_SECONDS = 5.0


class _StoredOrder(OrderedDict[Any, Any]):
    """Records in the order they were last stored: one stored again moves to the end."""

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)


class OldestFirstRegistry(TransactionRegistry):
    """SecantusDB's registry, with retryable writes' records pruned from the oldest (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._retryable = _StoredOrder()

    def _prune_retryable_locked(self) -> None:
        records = self._retryable
        cutoff = self._time() - transactions._RETRYABLE_RECORD_LIFETIME_SECONDS
        while records:
            _reply, stored_at, _identity = next(iter(records.values()))
            if stored_at >= cutoff and len(records) <= transactions._RETRYABLE_RECORD_MAX:
                return
            records.popitem(last=False)


def _project_nested(original: Any) -> Any:
    """`$project` with its sub-documents read as nested projections (see the module)."""

    def stage(spec: Any, docs: Any, ctx: Any) -> Any:
        if isinstance(spec, Mapping) and spec:
            spec = projection._flatten_projection_spec(spec)
        return original(spec, docs, ctx)

    return stage


def main(argv: list[str] | None = None) -> int:
    server.TransactionRegistry = OldestFirstRegistry
    aggregate._STAGES["$project"] = _project_nested(aggregate._STAGES["$project"])
    cli.SecantusDBServer = functools.partial(
        SecantusDBServer, transaction_lifetime_seconds=TRANSACTION_LIFETIME_SECONDS
    )
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
