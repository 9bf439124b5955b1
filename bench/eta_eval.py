"""Evaluate the ETA against baselines on real jobs (not a test: it prints figures and writes a report).

Runs N jobs through a real worker (embedded MongoDB and Redis, real crewAI, the offline model with its
per-stage pacing and per-job jitter), one after the other so that history accumulates as it would in
production. Then, from each job's event log, compares at 25%, 50% and 75% progress the remaining time
each method predicted with the remaining time there really was:

- contentgen: the `estimated_completion` the tracker published live in that very event;
- linear (the original story's formula, docs/story.md): elapsed / percentage * 100 - elapsed;
- EMA (tqdm's, smoothing 0.3): (100 - percentage) * EMA of seconds per percentage point;
- Jenkins: mean duration of the last 3 finished jobs of the same mode, minus elapsed.

Usage: python bench/eta_eval.py [--jobs 60] [--pace 350] [--out docs/eta]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHECKPOINTS = (25, 50, 75)
METHODS = ("contentgen", "linear", "ema", "jenkins")
MODES = ("topic", "keywords", "trends", "spin")
WORDS = (300, 600, 900, 1200, 1500)


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


@dataclass
class Trace:
    job_id: str
    mode: str
    words: int
    started: dt.datetime
    completed: dt.datetime
    points: list[tuple[dt.datetime, float, dt.datetime | None]]  # (time, percentage, published ETA)
    stages: list[tuple[str, float]]  # (stage, stage_progress) at each point
    timings: dict

    def to_json(self) -> dict:
        return {
            "job_id": self.job_id, "mode": self.mode, "words": self.words,
            "started": self.started.isoformat(), "completed": self.completed.isoformat(),
            "points": [(t.isoformat(), p, e.isoformat() if e else None) for t, p, e in self.points],
            "stages": self.stages, "timings": self.timings,
        }  # fmt: skip

    @classmethod
    def from_json(cls, raw: dict) -> Trace:
        points = [(parse_time(t), p, parse_time(e) if e else None) for t, p, e in raw["points"]]
        return cls(
            raw["job_id"],
            raw["mode"],
            raw["words"],
            parse_time(raw["started"]),
            parse_time(raw["completed"]),
            points,
            [tuple(s) for s in raw["stages"]],
            raw["timings"],
        )

    @property
    def duration(self) -> float:
        return (self.completed - self.started).total_seconds()


def ema_remaining(
    points: list[tuple[dt.datetime, float, object]], upto: int, smoothing: float = 0.3
) -> float:
    """tqdm's estimator: an exponential moving average of the time per unit, with bias correction."""
    mean, weight = 0.0, 0.0
    for (t0, p0, _), (t1, p1, _) in zip(points[:upto], points[1 : upto + 1], strict=False):
        if p1 <= p0:
            continue
        rate = (t1 - t0).total_seconds() / (p1 - p0)
        mean = smoothing * rate + (1 - smoothing) * mean
        weight = smoothing + (1 - smoothing) * weight
    if weight == 0:
        return 0.0
    return (100 - points[upto][1]) * mean / weight


def replay(traces: list[Trace]) -> list[Trace]:
    """Recompute contentgen's published ETA for every point with the current estimator code."""
    from jobs.core.eta import HISTORY_SIZE, Estimator, Smoother, samples_from_timings

    out = []
    for index, trace in enumerate(traces):
        earlier = [t for t in traces[:index] if t.mode == trace.mode][::-1][:HISTORY_SIZE]
        samples = samples_from_timings((t.timings, t.words) for t in earlier)
        overheads = [t.duration - sum(v["seconds"] for v in t.timings.values()) for t in earlier]
        estimator = Estimator.from_samples(trace.mode, trace.words, samples, overheads=overheads)
        smoother = Smoother()
        stage_start: dict[str, dt.datetime] = {}
        points = []
        for (at, percentage, _), (stage, stage_progress) in zip(trace.points, trace.stages, strict=True):
            stage_start.setdefault(stage, at)
            left, low, high = estimator.remaining(
                stage=stage,
                stage_progress=stage_progress,
                stage_elapsed=(at - stage_start[stage]).total_seconds(),
            )
            second = dt.timedelta(seconds=1)
            eta, _, _ = smoother.update(
                stage=stage, at=at, eta=at + left * second, low=at + low * second, high=at + high * second
            )
            points.append((at, percentage, eta))
        out.append(
            Trace(
                trace.job_id,
                trace.mode,
                trace.words,
                trace.started,
                trace.completed,
                points,
                trace.stages,
                trace.timings,
            )
        )
    return out


def evaluate(
    traces: list[Trace], min_history: int = 3
) -> tuple[dict[str, dict[int, float]], dict[str, dict[int, list[float]]], int]:
    errors: dict[str, dict[int, list[float]]] = {m: {c: [] for c in CHECKPOINTS} for m in METHODS}
    finished: dict[str, list[float]] = {mode: [] for mode in MODES}
    evaluated = 0
    for trace in traces:
        history = finished[trace.mode]
        if len(history) >= min_history:
            evaluated += 1
            for checkpoint in CHECKPOINTS:
                index = next((i for i, (_, p, _) in enumerate(trace.points) if p >= checkpoint), None)
                if index is None:
                    continue
                at, percentage, eta = trace.points[index]
                elapsed = (at - trace.started).total_seconds()
                actual = (trace.completed - at).total_seconds()
                if actual <= 0.5:
                    continue
                predictions = {
                    "contentgen": (eta - at).total_seconds() if eta else 0.0,
                    "linear": elapsed / percentage * 100 - elapsed,
                    "ema": ema_remaining(trace.points, index),
                    "jenkins": max(0.0, statistics.fmean(history[-3:]) - elapsed),
                }
                for method, predicted in predictions.items():
                    errors[method][checkpoint].append(abs(predicted - actual) / actual)
        history.append(trace.duration)
    medians = {
        m: {c: statistics.median(v) if v else float("nan") for c, v in by.items()} for m, by in errors.items()
    }
    return medians, errors, evaluated


def run_jobs(count: int, pace: float, seed: int) -> list[Trace]:
    from bson import ObjectId
    from django.contrib.auth import get_user_model
    from tqdm import tqdm

    from jobs.core import services
    from jobs.core.validation import parse_job
    from jobs.models import GenerationJob
    from progress import events

    user, _ = get_user_model().objects.get_or_create(username="eta-bench")
    rng = random.Random(seed)
    ids: list[ObjectId] = []
    for i in range(count):
        mode = MODES[i % len(MODES)] if i < len(MODES) * 3 else rng.choice(MODES)
        fields = {
            "topic": {"topic": f"Urban gardening idea {i}"},
            "keywords": {"keywords": [f"compost tip {i}", "balcony garden"]},
            "trends": {"topic": f"Home energy trend {i}"},
            "spin": {"source_text": "Solar panels cut bills. They need sun and a sound roof. " * 20},
        }[mode]
        spec, errors = parse_job({"mode": mode, "word_count": rng.choice(WORDS), **fields})
        assert spec is not None, errors
        ids.append(services.job_create(user=user, spec=spec).pk)

    env = dict(os.environ, CONTENTGEN_OFFLINE_TOKENS_PER_SECOND=str(pace), DJANGO_DEBUG="1")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--burst"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with tqdm(total=count, desc="jobs", unit="job") as bar:
        done = 0
        while worker.poll() is None or done < count:
            now_done = GenerationJob.objects.filter(pk__in=ids, status__in=GenerationJob.TERMINAL).count()
            bar.update(now_done - done)
            done = now_done
            if worker.poll() is not None and done < count:
                raise SystemExit(f"the worker exited with {worker.returncode} after {done} of {count} jobs")
            time.sleep(0.5)

    traces = []
    for job in GenerationJob.objects.filter(pk__in=ids, status="completed").order_by(
        "progress__completed_at"
    ):
        points, stages = [], []
        for event in events.after(job.pk, 0):
            progress = event["data"].get("progress") or {}
            if event["type"] != "progress" or event["data"]["status"] != "processing":
                continue
            eta = progress.get("estimated_completion")
            points.append(
                (
                    parse_time(event["data"]["timestamp"]),
                    float(progress["percentage"]),
                    parse_time(eta) if eta else None,
                )
            )
            stages.append((progress["stage"], float(progress["stage_progress"])))
        started = (
            job.progress.started_at.replace(tzinfo=dt.UTC)
            if job.progress.started_at.tzinfo is None
            else job.progress.started_at
        )
        completed = job.progress.completed_at
        completed = completed.replace(tzinfo=dt.UTC) if completed.tzinfo is None else completed
        traces.append(
            Trace(
                str(job.pk), job.mode, job.word_count, started, completed, points, stages, job.stage_timings
            )
        )
    return traces


def plot(traces: list[Trace], medians: dict[str, dict[int, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    sample = max(traces[len(traces) // 2 :], key=lambda t: t.words)
    finished = [t.duration for t in traces[: traces.index(sample)] if t.mode == sample.mode]
    xs, actual, series = [], [], {m: [] for m in METHODS}
    for index, (at, percentage, eta) in enumerate(sample.points):
        if percentage <= 0:
            continue
        elapsed = (at - sample.started).total_seconds()
        xs.append(elapsed)
        actual.append((sample.completed - at).total_seconds())
        series["contentgen"].append((eta - at).total_seconds() if eta else float("nan"))
        series["linear"].append(elapsed / percentage * 100 - elapsed)
        series["ema"].append(ema_remaining(sample.points, index))
        series["jenkins"].append(
            max(0.0, statistics.fmean(finished[-3:]) - elapsed) if len(finished) >= 3 else float("nan")
        )
    left.plot(xs, actual, color="black", linewidth=2.5, label="actual")
    for method, values in series.items():
        left.plot(xs, values, label=method)
    left.set_title(f"Remaining time over one job's life ({sample.mode}, {sample.words} words)")
    left.set_xlabel("elapsed (s)")
    left.set_ylabel("remaining (s)")
    left.set_ylim(0, max(actual) * 2.5)
    left.legend()
    width = 0.2
    for i, method in enumerate(METHODS):
        right.bar(
            [c + (i - 1.5) * width * 10 for c in CHECKPOINTS],
            [100 * medians[method][c] for c in CHECKPOINTS],
            width=width * 10,
            label=method,
        )
    right.set_xticks(CHECKPOINTS, [f"{c}% done" for c in CHECKPOINTS])
    right.set_ylabel("median absolute % error of remaining time")
    right.set_title("Error by checkpoint")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument(
        "--pace", type=float, default=350.0, help="offline tokens per second (70 is the default pace)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "eta")
    parser.add_argument(
        "--replay", type=Path, help="re-evaluate saved traces with the current estimator code"
    )
    args = parser.parse_args()
    if args.replay:
        import json

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contentgen.settings")
        traces = [Trace.from_json(raw) for raw in json.loads(args.replay.read_text())]
        for name, candidate in (("live", traces), ("replay", replay(traces))):
            medians, _, evaluated = evaluate(candidate)
            print(
                name,
                evaluated,
                " ".join(
                    f"{m}:" + "/".join(f"{100 * medians[m][c]:.1f}" for c in CHECKPOINTS) for m in METHODS
                ),
            )
        return 0

    from contentgen import embedded

    services = embedded.start(ephemeral=True)
    os.environ.update(
        {"MONGODB_URI": services.mongodb_uri, "REDIS_URL": services.redis_url, "DJANGO_DEBUG": "1"}
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contentgen.settings")
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        started = time.monotonic()
        traces = run_jobs(args.jobs, args.pace, args.seed)
        wall = time.monotonic() - started
    finally:
        services.stop()

    medians, errors, evaluated = evaluate(traces)
    durations = {mode: [t.duration for t in traces if t.mode == mode] for mode in MODES}
    lines = [
        "# ETA evaluation",
        "",
        f"{len(traces)} jobs run one after the other by a real worker (embedded SecantusDB and Redis, crewAI "
        f"1.15.30, offline model at {args.pace:g} tokens/s, word counts {', '.join(map(str, WORDS))}), "
        f"{wall:.0f} s in all. Evaluated: the {evaluated} jobs whose mode already had 3 finished runs "
        "(so that every method has history). Error = |predicted - actual| / actual remaining time, "
        "median over jobs.",
        "",
        "| method | 25% done | 50% done | 75% done |",
        "|---|---|---|---|",
    ]
    for method in METHODS:
        lines.append(
            f"| {method} | " + " | ".join(f"{100 * medians[method][c]:.1f}%" for c in CHECKPOINTS) + " |"
        )
    lines += [
        "",
        "Job durations (s): "
        + "; ".join(
            f"{mode} median {statistics.median(v):.1f} (min {min(v):.1f}, max {max(v):.1f})"
            for mode, v in durations.items()
            if v
        ),
        "",
        "![Predicted vs actual remaining time, and error by checkpoint](eta.png)",
        "",
        "Methods: *contentgen* is the `estimated_completion` published live by the tracker (per-stage "
        "Theil-Sen fits on history, observed-rate blending inside the stage, smoothing); *linear* is the "
        "story's elapsed / progress x 100; *ema* is tqdm's EMA of time per percentage point (smoothing 0.3); "
        "*jenkins* is the mean duration of the last 3 finished jobs of the same mode.",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    import json

    (args.out / "traces.json").write_text(json.dumps([t.to_json() for t in traces]))
    plot(traces, medians, args.out / "eta.png")
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[6:12]))
    best = all(
        medians["contentgen"][c] < min(medians[m][c] for m in METHODS if m != "contentgen")
        for c in CHECKPOINTS
    )
    goals = medians["contentgen"][25] <= 0.25 and medians["contentgen"][50] <= 0.10
    print(
        f"\nbetter than every baseline at every checkpoint: {best}; "
        f"goals (<=25% at 25%, <=10% at 50%): {goals}"
    )
    print(f"report: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
