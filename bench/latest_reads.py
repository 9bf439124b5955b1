"""What opening streams on 1,000 distinct jobs costs in reads of their latest events (prints figures).

A stream's first frame is its job's latest event. SecantusDB reads every event of a job to find it, so
that read grows with the log; a range read from the seq the job's last push left in Redis
(progress.layer's hint) does not. This times `progress.events.latest_many` for 1,000 jobs, in the
batches of 10 that opening streams share, with and without the hints, for logs of several lengths.
The baseline is the read without hints, in the same run.

Usage: python bench/latest_reads.py [--runs 3] [--events 1,13,50,200]
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Spread, start_stack  # noqa: E402

JOBS = 1000
BATCH = 10
DATA = {"status": "processing", "progress": {"percentage": 42.0, "message": "Writing the draft"}}


def timed(read: object, batches: list[list[object]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        read(batch)  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", default="1,13,50,200")
    args = parser.parse_args()
    lengths = sorted({int(n) for n in args.events.split(",")})
    stack = start_stack()
    try:
        from bson import ObjectId  # noqa: PLC0415

        from progress import events  # noqa: PLC0415

        log = events.collection()
        rows = []
        for length in lengths:
            jobs = [ObjectId() for _ in range(JOBS)]
            for start in range(0, JOBS, 20):
                chunk = jobs[start : start + 20]
                log.insert_many([{"job_id": job, "seq": seq, "type": "progress", "data": DATA}
                                 for job in chunk for seq in range(1, length + 1)])  # fmt: skip
            hints = dict.fromkeys(jobs, length)
            batches = [jobs[start : start + BATCH] for start in range(0, JOBS, BATCH)]
            whole, hinted = [], []
            for _ in range(args.runs):
                whole.append(timed(events.latest_many, batches))
                hinted.append(timed(partial(events.latest_many, hints=hints), batches))
            print(f"  {length} events per job: whole logs {Spread(whole).fmt(0)} ms, "
                  f"hinted {Spread(hinted).fmt(0)} ms", flush=True)  # fmt: skip
            rows.append((length, Spread(whole), Spread(hinted)))
    finally:
        stack.stop()
    print(f"\n| events per job | whole logs, {JOBS:,} jobs (ms) | from the hints (ms) | hinted / whole |")
    print("|---|---|---|---|")
    for length, whole_ms, hinted_ms in rows:
        used = "read whole below 10" if length < events.HINTED_FROM else ""
        ratio = hinted_ms.median / whole_ms.median
        print(f"| {length} | {whole_ms.fmt(0)} | {f'{hinted_ms.fmt(0)} {used}'.strip()} | {ratio:.2f}x |")
    print(f"\nmedian of {args.runs} runs (smallest-largest), batches of {BATCH}; baseline: the whole logs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
