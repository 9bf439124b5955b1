"""The local model on this machine: tokens/s, seconds per 1,000-word job, and how well the ETA predicts it.

1. Tokens/s of a streamed chat completion (200 tokens), beside the offline model's configured pace.
2. Seconds per 1,000-word topic job through the whole pipeline (research, writing, SEO; real crewAI),
   local model beside the offline model at its default pace, both run here.
3. ETA error of N local-model jobs (a real worker, embedded MongoDB and Redis, random modes and lengths)
   at 25/50/75% done: contentgen's published estimate beside the seed's linear formula.

Figures are medians of --runs runs with their spread (min-max). Needs the `local` extra.
Usage: python bench/local_model.py [--runs 3] [--jobs 20] [--skip-eta]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def spread(values: list[float], unit: str, digits: int = 1) -> str:
    low, mid, high = (f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values)))
    return f"{mid} {unit} (min {low}, max {high})"


def tokens_per_second(runs: int) -> list[float]:
    from jobs.pipeline import local_model
    from jobs.pipeline.local_text import Prompt

    local_model.RUNTIME.model()
    local_model.measure_tokens_per_second(32)  # warm-up: the first generation pays for page-ins
    prompt = Prompt("You are a helpful writer.", "Write about the history of gardens in Europe.", 200)
    rates = []
    for _ in range(runs):
        tokens: list[str] = []
        started = time.monotonic()
        local_model.generate(prompt, emit=tokens.append, cancelled=lambda: False)
        rates.append(len(tokens) / (time.monotonic() - started))
    return rates


def job_seconds(llm: str, runs: int) -> tuple[list[float], int]:
    from jobs.pipeline import JobInput, run_pipeline

    job = JobInput(
        mode="topic",
        topic="Starting a vegetable garden",
        keywords=[],
        source_text="",
        word_count=1000,
        tone="friendly",
    )
    seconds, words = [], 0
    for _ in range(runs):
        started = time.monotonic()
        result = run_pipeline(job, completed={}, on_event=lambda e: None, llm_name=llm)
        seconds.append(time.monotonic() - started)
        words = result.word_count
    return seconds, words


def eta_errors(count: int, seed: int) -> tuple[dict[str, dict[int, float]], int, float]:
    import eta_eval

    from contentgen import embedded

    services = embedded.start(ephemeral=True)
    os.environ.update(
        {
            "MONGODB_URI": services.mongodb_uri,
            "REDIS_URL": services.redis_url,
            "DJANGO_DEBUG": "1",
            "CONTENTGEN_LLM": "local",
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contentgen.settings")
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        started = time.monotonic()
        traces = eta_eval.run_jobs(count, 70.0, seed)
        wall = time.monotonic() - started
    finally:
        services.stop()
    # One finished job of the mode is enough history for the baselines that need it; the first job of
    # each mode is estimated from the model's measured pace alone.
    medians, _, evaluated = eta_eval.evaluate(traces, min_history=1)
    return medians, evaluated, wall


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--skip-eta", action="store_true")
    parser.add_argument(
        "--threads", type=int, default=0, help="llama.cpp threads for the jobs (default: all CPUs)"
    )
    args = parser.parse_args()
    os.environ.setdefault("CONTENTGEN_VAR_DIR", str(ROOT / "var"))
    from jobs.pipeline import local_model, pace

    print(
        f"llama.cpp threads: {local_model.threads()}; model: {local_model.model_path().name}; "
        f"load average: {os.getloadavg()[0]:.1f}"
    )
    for count in sorted({local_model.threads(), 1}, reverse=True):
        os.environ[local_model.THREADS_ENV] = str(count)
        rates = tokens_per_second(args.runs)
        print(
            f"local model, {count} thread(s): {spread(rates, 'tokens/s')}; "
            f"offline model's configured pace: {pace.tokens_per_second():.0f} tokens/s"
        )
    if args.threads:
        os.environ[local_model.THREADS_ENV] = str(args.threads)
    else:
        os.environ.pop(local_model.THREADS_ENV, None)
    local_seconds, local_words = job_seconds("local", args.runs)
    os.environ.pop("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", None)
    offline_seconds, offline_words = job_seconds("offline", args.runs)
    print(f"1,000-word topic job, local model:   {spread(local_seconds, 's')} ({local_words} words)")
    print(f"1,000-word topic job, offline model: {spread(offline_seconds, 's')} ({offline_words} words)")
    if args.skip_eta:
        return 0
    medians, evaluated, wall = eta_errors(args.jobs, args.seed)
    print(
        f"ETA over {args.jobs} local-model jobs ({evaluated} evaluated, {wall:.0f} s), "
        "median |error| of the remaining time:"
    )
    print("| method | 25% done | 50% done | 75% done |")
    print("|---|---|---|---|")
    for method in ("contentgen", "linear"):
        print(f"| {method} | " + " | ".join(f"{100 * medians[method][c]:.1f}%" for c in (25, 50, 75)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
