"""The embedded MongoDB: SecantusDB's own daemon, with abandoned transactions reaped after 5 s.

A worker killed in the middle of a transaction leaves it open on the server until the server reaps it,
after 60 s by default (mongod's `transactionLifetimeLimitSeconds`). Until then every write to a document
it touched conflicts, so the dead worker's job cannot be taken over for a minute. contentgen's
transactions last milliseconds, so the embedded server reaps them after TRANSACTION_LIFETIME_SECONDS.
The daemon's command line has no flag for it; its server class takes it as a keyword argument. On
mongod, set `transactionLifetimeLimitSeconds` (README, Production).

Usage: python -m contentgen.secantus_server <secantusd-py arguments>
"""

from __future__ import annotations

import functools
import sys

from secantus import cli
from secantus.server import SecantusDBServer

TRANSACTION_LIFETIME_SECONDS = 5.0


def main(argv: list[str] | None = None) -> int:
    cli.SecantusDBServer = functools.partial(
        SecantusDBServer, transaction_lifetime_seconds=TRANSACTION_LIFETIME_SECONDS
    )
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
