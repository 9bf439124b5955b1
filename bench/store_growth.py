"""How the embedded SecantusDB's write rate changes as the event log grows (prints figures; not a test).

Measure 2 of `bench/run` stores 54,000 events, measure 4 10,000 jobs: does a store that full write slower?
This script times `insert_one` per second into the event log (with its unique
(job_id, seq) index) and into a collection with no secondary index, for 2 s at each size, on a fresh
server each run. The baseline is the same server's rate when the collections are empty. (It once measured
0.67x at 50,000 documents. That was the retryable writes' records that its own writes left, which
contentgen's server now prunes from the oldest: see bench/retry_records.py.)

Usage: python bench/store_growth.py [--runs 3] [--sizes 0,20000,50000,100000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Spread, start_stack  # noqa: E402
from bench.standalone import fresh_runs, print_result  # noqa: E402

SECONDS = 2.0
FILLER = {"status": "processing", "progress": {"percentage": 12.5, "message": "Writing the draft"}}


def rate(collection: object) -> float:
    from bson import ObjectId  # noqa: PLC0415

    started, count = time.perf_counter(), 0
    while time.perf_counter() - started < SECONDS:
        collection.insert_one({"job_id": ObjectId(), "seq": 1, "type": "progress", "data": {}})  # type: ignore[attr-defined]
        count += 1
    return count / SECONDS


def one_run(sizes: list[int]) -> dict[int, tuple[float, float]]:
    """{size: (event log rate, plain collection rate)} on a fresh embedded server."""
    from bson import ObjectId  # noqa: PLC0415

    stack = start_stack()
    try:
        from progress import events  # noqa: PLC0415

        log = events.collection()
        plain = log.database["bench_store_growth"]
        stored, found = 0, {}
        for size in sizes:
            while stored < size:
                chunk = min(1000, size - stored)
                log.insert_many([{"job_id": ObjectId(), "seq": 1, "type": "progress", "data": FILLER}
                                 for _ in range(chunk)])  # fmt: skip
                plain.insert_many([{"data": FILLER} for _ in range(chunk)])
                stored += chunk
            found[size] = (rate(log), rate(plain))
            print(f"  {size:>7,} documents: event log {found[size][0]:,.0f}/s, plain {found[size][1]:,.0f}/s",
                  flush=True)  # fmt: skip
        return found
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="0,20000,50000,100000")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # one run, in its own process
    args = parser.parse_args()
    sizes = sorted({int(size) for size in args.sizes.split(",")} | {0})
    if args.one:
        print_result(one_run(sizes))
        return 0
    found = fresh_runs(
        __file__, ["--sizes", args.sizes], args.runs, what="a fresh embedded server", timeout=600
    )
    runs = [{int(size): tuple(pair) for size, pair in run.items()} for run in found]
    print("\n| documents already stored | event log insert_one/s | plain collection insert_one/s "
          "| event log / empty |")  # fmt: skip
    print("|---|---|---|---|")
    for size in sizes:
        log = Spread([run[size][0] for run in runs])
        plain = Spread([run[size][1] for run in runs])
        ratio = Spread([run[size][0] / run[0][0] for run in runs])
        print(f"| {size:,} | {log.fmt(0)} | {plain.fmt(0)} | {ratio.fmt(2)}x |")
    print(f"\nmedian of {args.runs} runs (smallest-largest); baseline: the same run's empty collections")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
