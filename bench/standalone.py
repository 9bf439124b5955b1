"""The command line the standalone scripts share (bench/job_actions.py, job_lists.py, retry_records.py,
store_growth.py): each run in a process of its own, on a fresh embedded server, and a table of the runs."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.common import Spread, Stack, start_stack

RESULT = "RESULT "


def paired_main(
    script: str,
    doc: str | None,
    one_run: Callable[[Stack, int, int], dict[str, tuple[float, float]]],
    names: list[str],
    *,
    ops: int,
    what: str,
    heading: str,
    columns: tuple[str, str],
    digits: int,
) -> int:
    """The command line of a script that times, per name, a baseline beside contentgen, each run on a fresh
    embedded server with `--jobs` jobs stored (`one_run(stack, jobs, ops)` -> {name: (baseline ms,
    contentgen ms)}, the stack started and stopped here): its arguments, its runs and its table. `what`
    and `heading` are formatted with jobs, other (half of jobs) and runs."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--ops", type=int, default=ops)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # one run, in its own process
    args = parser.parse_args()
    if args.one:
        stack = start_stack()
        try:
            found = one_run(stack, args.jobs, args.ops)
        finally:
            stack.stop()
        for name, (baseline, ours) in found.items():
            figures = f"{columns[1]} {baseline:,.{digits}f} ms, contentgen {ours:,.{digits}f} ms"
            print(f"  {name}: {figures}", flush=True)
        print_result(found)
        return 0
    words = {"jobs": f"{args.jobs:,}", "other": f"{args.jobs // 2:,}", "runs": args.runs}
    runs = fresh_runs(
        script, ["--jobs", str(args.jobs), "--ops", str(args.ops)], args.runs, what=what.format(**words)
    )
    print("\n" + heading.format(**words))
    print(
        f"| {columns[0]} | {columns[1]} (baseline) | contentgen | baseline / contentgen |\n|---|---|---|---|"
    )
    for name in names:
        baseline = Spread([run[name][0] for run in runs])
        ours = Spread([run[name][1] for run in runs])
        ratio = baseline.median / ours.median
        print(f"| {name} | {baseline.fmt(digits)} | {ours.fmt(digits)} | {ratio:,.1f}x |")
    return 0


def timed(action: Callable[[Any], Any], items: list[Any]) -> float:
    """The median time of `action` over `items`, in ms."""
    times = []
    for item in items:
        started = time.perf_counter()
        action(item)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def print_result(result: Any) -> None:
    """A `--one` child's answer to `fresh_runs`, as the last line it prints."""
    print(RESULT + json.dumps(result), flush=True)


def fresh_runs(script: str, args: list[str], runs: int, *, what: str, timeout: float = 900) -> list[Any]:
    """`script --one *args`, `runs` times, each in a process of its own (Django is set up once per process,
    on one embedded server, so a fresh server means a fresh process). Echoes each run's report lines (those
    indented by two spaces) and returns each run's `print_result`."""
    results = []
    for run in range(runs):
        print(f"run {run + 1} of {runs} ({what})", flush=True)
        done = subprocess.run(
            [sys.executable, script, "--one", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        lines = done.stdout.splitlines()
        print("\n".join(line for line in lines if line.startswith("  ")), flush=True)
        results.append(json.loads(next(line for line in lines if line.startswith(RESULT))[len(RESULT) :]))
    return results
