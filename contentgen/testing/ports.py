"""Ports for servers the tests start and cannot hand a listening socket to (SecantusDB, redis-server).

A port from `bind(0)` comes from the ephemeral range, which every outgoing connection on the machine also
draws from, and it is free again as soon as it is released: a server started on it, or restarted on it
after an outage, can find it taken. These ports lie below the ephemeral range, so no outgoing connection
takes them, and each xdist worker draws from its own slice, so the workers never pick the same one.
"""

from __future__ import annotations

import os
import random
import socket

LOW, HIGH = 20000, 32000  # below Linux's default ephemeral range (32768-60999)
SLICES = 8
# Its own generator: pytest-randomly seeds the shared one alike before every test.
_random = random.Random()


def _slice() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) % SLICES if worker.startswith("gw") else SLICES - 1
    width = (HIGH - LOW) // SLICES
    return range(LOW + index * width, LOW + (index + 1) * width)


def free_port() -> int:
    """A loopback port that nothing listens on, from this worker's slice (bound once to check)."""
    candidates = _slice()
    for port in _random.sample(candidates, 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {candidates.start}-{candidates.stop - 1}")
