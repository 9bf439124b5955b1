"""The benchmark suite: every measure beside its baseline, written to bench/results/REPORT.md.

Run it with `bench/run` (about 10 minutes) or `bench/run --quick` (a smoke run, seconds to a minute).
Everything runs on this machine, on the embedded SecantusDB and Redis: the servers under test, the
clients (bench/clients.py, their own process) and the publisher (bench/load.py, in the measure's
process). Each measure (bench/measures/) runs in a process of its own (`--part`, see `main`), on new
embedded services. Latency figures are the median of RUNS runs, with the smallest and largest beside
it; each baseline is measured in the same run as contentgen, on the same server and channel layer.
A full run written to bench/results adds its row to bench/results/INDEX.md (bench/index.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import index  # noqa: E402
from bench.common import raise_open_files, start_stack  # noqa: E402
from bench.config import RESULTS, Config  # noqa: E402
from bench.measures import MEASURES  # noqa: E402
from bench.report import Report, Row, Section, plot, write  # noqa: E402

PART_TIMEOUT = 3600.0
# The quick run's first process; the second runs the other measures. The halves take about as long.
QUICK_FIRST_HALF = frozenset({"many-jobs", "opening", "queue", "scale-out"})


def run_part(cfg: Config, names: list[str], part: Path) -> int:
    """Run the named measures here, on embedded services of their own; their sections, plots and server
    log problems go to `part` (JSON) after each measure."""
    report = Report(cfg)
    clock = time.monotonic()
    stack = start_stack()
    try:
        for name in names:
            print(f"  [{time.monotonic() - clock:5.1f} s] {name}", flush=True)
            MEASURES[name](stack, cfg, report)
            part.write_text(
                json.dumps({"sections": [asdict(s) for s in report.sections], "plots": report.plots,
                            "problems": report.problems})
            )  # fmt: skip
    finally:
        stack.stop()
    return 0


def merge(report: Report, part: Path) -> None:
    got = json.loads(part.read_text())
    for section in got["sections"]:
        rows = [Row(**row) for row in section.pop("rows")]
        report.sections.append(Section(**section, rows=rows))
    report.sections.sort(key=lambda section: int(section.title.split(".", 1)[0]))  # parts run side by side
    plots = got["plots"]
    if "workers" in plots:  # JSON made its keys strings
        plots["workers"] = {int(count): rates for count, rates in plots["workers"].items()}
    report.plots.update(plots)
    report.problems.update(got["problems"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny loads, one run each: a smoke test")
    parser.add_argument("--only", action="append", choices=sorted(MEASURES), help="run only these measures")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where REPORT.md and the plots go")
    parser.add_argument("--runs", type=int, help="runs per measure (default: 3, or 1 with --quick)")
    parser.add_argument("--part", type=Path, help=argparse.SUPPRESS)  # internal: see run_part
    args = parser.parse_args(argv)
    cfg = Config.make(args.quick)
    if args.runs:
        cfg.runs = args.runs
    if raise_open_files() < cfg.idle_streams + 1024:
        parser.error("the open-files limit is too low for the capacity measure")
    names = [name for name in MEASURES if not args.only or name in args.only]
    if args.part:
        return run_part(cfg, names, args.part)
    args.out.mkdir(parents=True, exist_ok=True)
    flags = ["--quick"] * cfg.quick + [f"--only {name}" for name in args.only or []]
    report = Report(cfg, command=" ".join(["bench/run", *flags]), commit=index.head_commit())
    # Only full runs are indexed: a quick run's figures say nothing, and --only leaves measures out.
    indexed = not cfg.quick and not args.only and args.out.resolve() == RESULTS.resolve()
    if indexed:
        index.retire(RESULTS)
    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    # Each measure runs in a process of its own, on a new embedded MongoDB and Redis, so that no measure
    # starts where another left its store (docs/measurements.md, "Why each measure gets a new database").
    # The quick run is a smoke test: two processes at once, each on one store for its half.
    if cfg.quick:
        first = [name for name in names if name in QUICK_FIRST_HALF]
        batches = [[first, [name for name in names if name not in first]]]
    else:
        batches = [[[name]] for name in names]
    with tempfile.TemporaryDirectory(prefix="bench-parts-") as parts:
        for batch in batches:
            groups = [group for group in batch if group]
            names_text = " | ".join(", ".join(group) for group in groups)
            print(f"[{time.monotonic() - clock:6.0f} s] {names_text}", flush=True)
            running = []
            for group in groups:
                part = Path(parts) / f"{group[0]}.json"
                command = [sys.executable, "-m", "bench.suite", "--part", str(part), "--runs", str(cfg.runs)]
                command += ["--quick"] * cfg.quick + [f"--only={name}" for name in group]
                running.append((group, part, subprocess.Popen(command, cwd=ROOT)))
            failed = []
            for group, part, proc in running:
                try:
                    code = proc.wait(timeout=PART_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = proc.wait()
                if part.exists():
                    merge(report, part)
                if code != 0:
                    failed.append(f"bench: {', '.join(group)} failed (exit {code}); see above")
            write(report, started, time.monotonic() - clock, plot(report, args.out), args.out)  # so far
            if failed:
                print(*failed, sep="\n", file=sys.stderr)
                return 1
    path = write(report, started, time.monotonic() - clock, plot(report, args.out), args.out)
    if indexed:
        index.record(RESULTS)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
