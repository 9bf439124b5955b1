"""Pipeline throughput and write cost per job (a benchmark, not a test: it prints figures).

In one run, on the embedded SecantusDB and Redis, with the offline model at zero delay:
- baseline: the crew alone (`run_pipeline` with a no-op callback), jobs per minute;
- contentgen: the same jobs through a real `Worker` (claim, tracker, event log, snapshots, group_send):
  jobs per minute per worker, MongoDB write commands per job, events per job, and what writing every
  pipeline update would have cost (one event insert plus one snapshot write each: the uncoalesced baseline).

Usage: python bench/pipeline_throughput.py [--jobs 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from pymongo import monitoring

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WRITES = {"insert", "update", "findAndModify", "delete"}


class Writes(monitoring.CommandListener):
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.on = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on and event.command_name in WRITES:
            collection = event.command.get(event.command_name)
            self.counts[f"{event.command_name} {collection}"] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=30)
    args = parser.parse_args()
    writes = Writes()
    monitoring.register(writes)

    from contentgen import embedded

    services = embedded.start(ephemeral=True)
    os.environ.update(
        {
            "MONGODB_URI": services.mongodb_uri,
            "REDIS_URL": services.redis_url,
            "DJANGO_DEBUG": "1",
            "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "0",
            "DJANGO_SETTINGS_MODULE": "contentgen.settings",
        }
    )
    try:
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from tqdm import tqdm

        from jobs.core import services as job_services
        from jobs.core.validation import parse_job
        from jobs.models import GenerationJob
        from jobs.pipeline import JobInput, run_pipeline
        from jobs.runtime.tracker import ProgressTracker
        from jobs.runtime.worker import Worker
        from progress import events

        call_command("migrate", verbosity=0)
        user = get_user_model().objects.create(username="bench")
        spec, _ = parse_job({"mode": "topic", "topic": "Composting in small apartments", "word_count": 1000})
        assert spec is not None
        job_input = JobInput(
            spec.mode, spec.topic, list(spec.keywords), spec.source_text, spec.word_count, spec.tone
        )

        run_pipeline(job_input, completed={}, on_event=lambda e: None)  # warm-up: imports crewAI
        started = time.perf_counter()
        for _ in tqdm(range(args.jobs), desc="baseline: crew alone", unit="job"):
            run_pipeline(job_input, completed={}, on_event=lambda e: None)
        baseline_rate = args.jobs / (time.perf_counter() - started) * 60

        updates = Counter[str]()
        original = ProgressTracker.update

        def counting_update(self: ProgressTracker, *a: object, **k: object) -> None:
            updates["updates"] += 1
            original(self, *a, **k)  # type: ignore[arg-type]

        ProgressTracker.update = counting_update  # type: ignore[method-assign]

        def measure(count: int, pace: str, label: str) -> dict[str, float]:
            os.environ["CONTENTGEN_OFFLINE_TOKENS_PER_SECOND"] = pace
            updates.clear()
            writes.counts.clear()
            ids = [job_services.job_create(user=user, spec=spec).pk for _ in range(count)]
            writes.on = True
            started = time.perf_counter()
            runner = threading.Thread(target=Worker(burst=True).run)
            runner.start()
            with tqdm(total=count, desc=label, unit="job") as bar:
                while runner.is_alive():
                    runner.join(timeout=0.5)
                    bar.update(GenerationJob.objects.filter(pk__in=ids, status="completed").count() - bar.n)
            elapsed = time.perf_counter() - started
            writes.on = False
            done = GenerationJob.objects.filter(pk__in=ids, status="completed").count()
            assert done == count, f"only {done} of {count} completed"
            return {
                "rate": count / elapsed * 60,
                "uncoalesced": 2 * updates["updates"] / count,
                "writes": sum(writes.counts.values()) / count,
                "updates": updates["updates"] / count,
                "events": sum(len(events.after(pk, 0)) for pk in ids) / count,
                **{name: n / count for name, n in writes.counts.items()},
            }

        fast = measure(args.jobs, "0", "contentgen: worker, zero delay")
        paced = measure(1, "", "contentgen: worker, default pace (about 30 s)")
    finally:
        services.stop()

    rows = [
        ("jobs per minute per worker (crew alone vs worker)", baseline_rate, fast["rate"]),
        ("MongoDB writes per job (uncoalesced vs ours)", fast["uncoalesced"], fast["writes"]),
        ("events per job (pipeline updates vs events)", fast["updates"], fast["events"]),
    ]
    print()
    print("Embedded SecantusDB and Redis, topic mode, 1,000 words, 1 worker, 1 process")
    print(f"{'zero delay, ' + str(args.jobs) + ' jobs':52} {'baseline':>10} {'contentgen':>11}")
    for label, base, ours in rows:
        print(f"{label:52} {base:10.1f} {ours:11.1f}")
    print(f"{'default pace (70 tokens/s), 1 job':52}")
    print(
        f"{'MongoDB writes per job (uncoalesced vs ours)':52} "
        f"{paced['uncoalesced']:10.1f} {paced['writes']:11.1f}"
    )
    print(
        f"{'events per job (pipeline updates vs events)':52} {paced['updates']:10.1f} {paced['events']:11.1f}"
    )
    print("writes per job by command and collection (zero delay / default pace):")
    for name in sorted(k for k in fast if " " in k):
        print(f"  {name:50} {fast[name]:10.1f} {paced.get(name, 0.0):11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
