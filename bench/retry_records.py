"""Writes per second on the embedded SecantusDB as retryable writes add up (prints figures; not a test).

pymongo makes every write retryable, and the server keeps a record of each one's reply for 30 minutes, up
to 10,000 records. SecantusDB 0.7.0b3 prunes those records by reading all of them on every write, and by
sorting all of them once 10,000 are kept. contentgen's embedded server prunes them from the oldest
(contentgen/secantus_server.py). This script times `insert_one` into a collection with the event log's
unique (job_id, seq) index, one write per call as the publisher and the claim make them, in windows of
WINDOW writes at several points of a run: on SecantusDB as it ships (the baseline) and on contentgen's
server, each run on two fresh servers with the same flags.

Usage: python bench/retry_records.py [--runs 3] [--writes 22000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Spread  # noqa: E402
from bench.standalone import fresh_runs, print_result  # noqa: E402

WINDOW = 2000
SERVERS = {"SecantusDB as shipped": "secantus", "contentgen's server": "contentgen.secantus_server"}


def rates(module: str, writes: int) -> dict[int, float]:
    """{writes made before the window: writes per second in it} on a fresh server of `module`."""
    import pymongo  # noqa: PLC0415
    from bson import ObjectId  # noqa: PLC0415

    from contentgen import embedded  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="bench-retry-") as data_dir:
        port = embedded.free_port()
        log = Path(data_dir) / "server.log"
        proc = embedded.spawn(embedded.mongodb_command(port, Path(data_dir) / "db", module), log)
        client: pymongo.MongoClient[dict[str, object]] | None = None
        try:
            embedded.wait_for(port, proc, module, log)
            client = pymongo.MongoClient(port=port, retryWrites=True, serverSelectionTimeoutMS=10_000)
            events = client["bench"]["events"]
            events.create_index([("job_id", 1), ("seq", 1)], unique=True)
            found, started = {}, time.perf_counter()
            for made in range(writes):
                if made % WINDOW == 0:
                    started = time.perf_counter()
                events.insert_one({"job_id": ObjectId(), "seq": 1, "type": "progress", "data": {}})
                if (made + 1) % WINDOW == 0:
                    found[made + 1 - WINDOW] = WINDOW / (time.perf_counter() - started)
            return found
        finally:
            if client is not None:
                client.close()
            proc.terminate()
            proc.wait(10)


def one_run(writes: int) -> dict[str, dict[int, float]]:
    found = {}
    for name, module in SERVERS.items():
        found[name] = rates(module, writes)
        shown = [f"{made:,}: {rate:,.0f}/s" for made, rate in found[name].items() if not made % 10_000]
        print(f"  {name}: {', '.join(shown)}", flush=True)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--writes", type=int, default=22_000)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # one run, in its own process
    args = parser.parse_args()
    if args.one:
        print_result(one_run(args.writes))
        return 0
    runs = fresh_runs(__file__, ["--writes", str(args.writes)], args.runs, what="fresh servers", timeout=900)
    baseline, ours = SERVERS
    windows = sorted(int(made) for made in runs[0][baseline] if int(made) % 10_000 == 0)
    print(f"\n| writes made before | {baseline}: insert_one/s | {ours}: insert_one/s | ratio |")
    print("|---|---|---|---|")
    for made in windows:
        base = Spread([run[baseline][str(made)] for run in runs])
        mine = Spread([run[ours][str(made)] for run in runs])
        ratio = Spread([run[ours][str(made)] / run[baseline][str(made)] for run in runs])
        print(f"| {made:,} | {base.fmt(0)} | {mine.fmt(0)} | {ratio.fmt(2)}x |")
    print(f"\nmedian of {args.runs} runs (smallest-largest), {WINDOW:,} writes per window, each run on "
          "two fresh servers")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
