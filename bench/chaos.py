"""Chaos run: a loaded contentgen under a seeded schedule of faults, then a table of what broke.

Starts the embedded MongoDB (SecantusDB) and Redis, 2 daphne processes and 3 workers, all through the
project's own commands (`manage.py migrate`, `daphne contentgen.asgi:application`,
`manage.py run_worker --concurrency 2`). Creates a mixed load (jobs of every mode and 2 batches)
through the REST API, follows them with SSE clients that reconnect with Last-Event-ID to either
daphne, and meanwhile injects, on a schedule drawn from --seed:
- `kill -9` of random workers (each restarted a second later, as a supervisor would);
- daphne restarts; Redis stopped and started; MongoDB stopped and started on the same data;
- one SIGTERM of a worker.

Then it waits for every job to end and reports: faults injected; jobs lost (never finished), completed
twice, and stages re-run after their checkpoint; events missing or duplicated at the clients against
the log; the longest time from a kill to the takeover of a job the dead worker held; batches whose
counters, completion or `complete` events disagree with their members. Exit status 0 when every goal
is met (all zero, detection within lease + 5 s).

Workers run with CONTENTGEN_MAX_ATTEMPTS=10, so that twenty kills cannot exhaust a job's attempts by
chance; jobs failed for that reason would be counted as failed, not lost. Logs: var/log/chaos-*.log.

Usage: python bench/chaos.py [--short] [--seed 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chaos_cluster import FULL, SHORT, Cluster, Follower, Plan, create_load, run_clients  # noqa: E402
from contentgen.embedded import stop_process  # noqa: E402

STALL_SECONDS = 120.0
STAGE_ORDER = ("research", "writing", "seo")


@dataclass
class Fault:
    at: float
    kind: str
    seconds: float = 0.0
    detail: str = ""
    proc: subprocess.Popen[bytes] | None = None


def schedule(plan: Plan, rng: random.Random) -> list[Fault]:
    """Outages at fixed fractions of the span; kills and restarts drawn around them. No kill lands in
    a MongoDB outage or the minute after it (no takeover can happen while it is down, so its detection
    time would measure the outage), and kills are `kill_spacing` apart so that some worker is up."""
    faults = [
        Fault(at=round(plan.span * fraction, 1), kind=f"stop {name}", seconds=seconds)
        for name, stops, fractions in (
            ("mongodb", plan.mongo_stops, plan.mongo_at),
            ("redis", plan.redis_stops, plan.redis_at),
        )
        for seconds, fraction in zip(stops, fractions, strict=True)
    ]
    busy = [(f.at - 3, f.at + f.seconds + 10 + plan.lease + 5) for f in faults if f.kind == "stop mongodb"]
    kills: list[float] = []

    def free_time(*, kill: bool = False) -> float:
        for _ in range(10_000):
            at = round(rng.uniform(8, plan.span), 1)
            spaced = not kill or all(abs(at - t) >= plan.kill_spacing for t in kills)
            if spaced and all(not (start <= at <= end) for start, end in busy):
                kills.extend([at] if kill else [])
                return at
        raise ValueError("the span is too short for this many faults")

    faults += [Fault(at=free_time(kill=True), kind="kill -9 worker") for _ in range(plan.kills)]
    faults += [Fault(at=free_time(), kind="restart daphne") for _ in range(plan.daphne_restarts)]
    faults += [Fault(at=free_time(), kind="SIGTERM worker") for _ in range(plan.sigterms)]
    return sorted(faults, key=lambda f: f.at)


# Faults ----------------------------------------------------------------------------------------------


@dataclass
class Kill:
    at: float  # unix time
    leases: dict[ObjectId, float]  # the jobs the dead worker held -> the end of each one's lease (unix time)


def held_jobs(db: Any, pid: int) -> dict[ObjectId, float]:
    """The jobs `pid` holds, each with the end of its lease (unix time)."""
    try:
        docs = db.generation_jobs.find(
            {"status": "processing", "lease_owner": {"$regex": f":{pid}:"}},
            {"_id": 1, "lease_expires_at": 1},
            max_time_ms=2000,
        )
        return {d["_id"]: aware(d["lease_expires_at"]).timestamp() if d.get("lease_expires_at") else 0.0
                for d in docs}  # fmt: skip
    except Exception:
        return {}


@dataclass
class Outage:
    name: str
    start: float  # unix time
    end: float = 0.0


def inject(cluster: Cluster, fault: Fault, db: Any, kills: list[Kill], outages: list[Outage]) -> list[Fault]:
    """Start one fault without blocking the schedule; returns follow-up steps (a restart, a resume)."""
    rng = cluster.rng
    if fault.kind == "kill -9 worker":
        index = rng.randrange(len(cluster.workers))
        proc = cluster.workers[index]
        proc.kill()
        proc.wait(timeout=10)
        at = time.time()
        jobs = held_jobs(db, proc.pid)  # after the kill: the leases as the dead worker left them
        kills.append(Kill(at=at, leases=jobs))
        fault.detail = f"worker {index} (pid {proc.pid}, {len(jobs)} jobs held), restarted"
        cluster.start_worker(index)
    elif fault.kind == "SIGTERM worker":
        index = rng.randrange(len(cluster.workers))
        proc = cluster.workers[index]
        proc.send_signal(signal.SIGTERM)
        fault.detail = f"worker {index}"
        return [
            Fault(
                at=fault.at + 0.5, kind="reap worker", detail=f"{index}", seconds=time.monotonic(), proc=proc
            )
        ]
    elif fault.kind == "reap worker":
        # The process signalled, not whatever runs in its slot now (a kill -9 may have replaced it).
        index, proc = int(fault.detail), fault.proc
        assert proc is not None
        code = proc.poll()
        if code is None:
            return [dataclasses.replace(fault, at=fault.at + 0.5)]
        fault.detail = f"worker {index} exited {code} {time.monotonic() - fault.seconds:.1f} s after SIGTERM"
        if cluster.workers[index] is proc:
            cluster.start_worker(index)
    elif fault.kind == "restart daphne":
        port = rng.choice(cluster.ports)
        stop_process(cluster.daphnes[port])
        cluster.start_daphne(port, wait=False)
        fault.detail = f"port {port}"
    elif fault.kind.startswith("stop "):
        # SIGKILL: the server is gone at once, as in a crash. WiredTiger's log is written before each
        # acknowledgement, and a killed process loses nothing the OS already has.
        name = fault.kind.split()[-1]
        cluster.services.halt(name)
        outages.append(Outage(name, time.time()))
        fault.detail = f"for {fault.seconds:.0f} s"
        return [Fault(at=fault.at + fault.seconds, kind=f"start {name}", seconds=time.monotonic())]
    elif fault.kind.startswith("start "):
        name = fault.kind.split()[-1]
        cluster.services.resume(name)
        outage = next(o for o in reversed(outages) if o.name == name)
        outage.end = time.time()
        fault.detail = f"down {outage.end - outage.start:.1f} s" + (
            ", same data and port" if name == "mongodb" else ""
        )
    return []


def run_schedule(cluster: Cluster, faults: list[Fault], db: Any) -> tuple[list[Kill], list[Outage]]:
    kills: list[Kill] = []
    outages: list[Outage] = []
    pending = sorted(faults, key=lambda f: f.at)
    t0 = time.monotonic()
    while pending:
        fault = pending.pop(0)
        time.sleep(max(0.0, fault.at - (time.monotonic() - t0)))
        at = time.monotonic() - t0
        pending = sorted(pending + inject(cluster, fault, db, kills, outages), key=lambda f: f.at)
        if fault.kind != "reap worker" or not fault.detail.isdigit():
            print(f"{at:6.1f} s  {fault.kind}: {fault.detail}", flush=True)
    return kills, outages


# Results ---------------------------------------------------------------------------------------------


def aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def rerun_stages(log: list[dict[str, Any]]) -> int:
    """Stages that started again after the log showed them finished (their checkpoint was stored)."""
    finished: set[str] = set()
    reruns = 0
    for event in log:
        progress = event["data"].get("progress") or {}
        stage = progress.get("stage")
        if stage not in STAGE_ORDER:
            continue
        if stage in finished and progress.get("stage_progress", 0) < 100:
            reruns += 1
            finished.discard(stage)
        if progress.get("stage_progress", 0) >= 100:
            finished.add(stage)
    return reruns


def results(
    db: Any, followers: list[Follower], kills: list[Kill], outages: list[Outage], lease: float
) -> dict[str, Any]:
    jobs = list(db.generation_jobs.find({}, {"status": 1, "bulk_job_id": 1, "error": 1}))
    logs = {j["_id"]: list(db.progress_events.find({"job_id": j["_id"]}).sort("seq", 1)) for j in jobs}
    terminal = {"completed", "failed", "cancelled"}
    out: dict[str, Any] = {
        "jobs": len(jobs),
        "completed": sum(j["status"] == "completed" for j in jobs),
        "failed": sum(j["status"] == "failed" for j in jobs),
        "lost": sum(j["status"] not in terminal for j in jobs),
        "completed twice": sum([e["type"] for e in logs[j["_id"]]].count("complete") > 1 for j in jobs),
        "stages re-run after their checkpoint": sum(rerun_stages(logs[j["_id"]]) for j in jobs),
        "failure messages": sorted({(j.get("error") or {}).get("message", "")[:80] for j in jobs if j["status"] == "failed"}),  # noqa: E501
    }  # fmt: skip
    missing = duplicated = unfinished = 0
    gaps: list[str] = []
    for follower in followers:
        stored = [e["seq"] for e in db.progress_events.find({"job_id": ObjectId(follower.id)}, {"seq": 1})]
        lacking = sorted(set(stored) - set(follower.seqs))
        missing += len(lacking)
        if lacking:
            gaps.append(
                f"{follower.kind} {follower.id}: seqs {lacking} of {max(stored)}, "
                f"client last at {max(follower.seqs or [0])}"
            )
        duplicated += len(follower.seqs) - len(set(follower.seqs))
        unfinished += not follower.done
    out.update(
        {
            "events missing at clients": missing,
            "events duplicated at clients": duplicated,
            "clients without their complete": unfinished,
            "client reconnects": sum(f.reconnects for f in followers),
            "gaps at clients": gaps,
        }
    )
    detections: list[float] = []
    found: list[tuple[float, str]] = []
    # While MongoDB is down nobody can take a job over: such kills measure the outage, not detection.
    mongo = [(o.start, o.end or time.time()) for o in outages if o.name == "mongodb"]
    measurable = [k for k in kills if all(k.at + lease + 5 < start or k.at > end for start, end in mongo)]
    out["kills during a MongoDB outage (not measured)"] = len(kills) - len(measurable)
    for kill in measurable:
        for pk, lease_end in kill.leases.items():
            for event in logs.get(pk, []):
                at = aware(event["timestamp"]).timestamp()
                message = (event["data"].get("progress") or {}).get("message", "")
                if at > kill.at and message.startswith("Worker lost"):
                    detections.append(at - kill.at)
                    how = "requeued" if "queue" in message else "taken over"
                    ends = lease_end - kill.at
                    found.append((at - kill.at, f"job {pk}: {how} {at - kill.at:.1f} s after the kill at "
                                  f"{dt.datetime.fromtimestamp(kill.at, dt.UTC):%H:%M:%S.%f} UTC, "
                                  f"{at - kill.at - ends:.1f} s after its lease ran out"))  # fmt: skip
                    break
    out["dead-worker detections measured"] = len(detections)
    out["slowest detections"] = [text for _, text in sorted(found, reverse=True)[:3]]
    out["median time to detect a dead worker (s)"] = (
        round(statistics.median(detections), 1) if detections else None
    )
    out["longest time to detect a dead worker (s)"] = round(max(detections), 1) if detections else None
    mismatched = 0
    for bulk in db.bulk_jobs.find({}):
        members = [j for j in jobs if j.get("bulk_job_id") == bulk["_id"]]
        counts = {s: sum(j["status"] == s for j in members) for s in ("queued", "processing", *terminal)}
        stored = {s: bulk[f"count_{s}"] for s in counts}
        events = [e["type"] for e in db.progress_events.find({"job_id": bulk["_id"]})]
        finished = all(j["status"] in terminal for j in members)
        completed = bulk.get("completed_at") is not None
        if stored != counts or finished != completed or events.count("complete") != int(finished):
            mismatched += 1
    out["batches whose counters disagree"] = mismatched
    out["detection goal (s)"] = lease + 5
    return out


def goals_met(out: dict[str, Any]) -> bool:
    zero = (
        "lost", "completed twice", "stages re-run after their checkpoint", "events missing at clients",
        "events duplicated at clients", "clients without their complete", "batches whose counters disagree",
    )  # fmt: skip
    detection = out["longest time to detect a dead worker (s)"]
    return all(out[k] == 0 for k in zero) and (detection is None or detection <= out["detection goal (s)"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--short", action="store_true", help="5 kills, 1 Redis stop, 1 MongoDB restart, 10 jobs"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    plan = SHORT if args.short else FULL
    started = time.monotonic()
    cluster = Cluster(plan, args.seed)
    stop = threading.Event()
    try:
        token = cluster.start()
        db = MongoClient(
            cluster.services.mongodb_uri,
            serverSelectionTimeoutMS=2000,
            connectTimeoutMS=2000,
            socketTimeoutMS=10000,
        ).get_database("contentgen")
        faults = schedule(plan, cluster.rng)
        followers = [Follower(kind, pk) for kind, pk in create_load(cluster, token)]
        clients = threading.Thread(
            target=run_clients, args=(followers, cluster.ports, token, stop), daemon=True
        )
        clients.start()
        kills, outages = run_schedule(cluster, faults, db)
        # Drain: until everything ended, or nothing has moved for STALL_SECONDS (what is open then is
        # stuck, and counted as lost). A slow machine only makes the drain longer, not the losses larger.
        last_change, last_seen, drain_end = time.monotonic(), None, time.monotonic() + 900
        while time.monotonic() - last_change < STALL_SECONDS and time.monotonic() < drain_end:
            try:
                seen = (
                    db.progress_events.count_documents({}),
                    db.generation_jobs.count_documents({"status": {"$in": ["queued", "processing"]}}),
                )
            except Exception:
                time.sleep(1)
                continue
            waiting = sum(not f.done for f in followers)
            if seen[1] == 0 and waiting == 0:
                break
            if seen != last_seen:
                last_change, last_seen = time.monotonic(), seen
                print(f"drain: {seen[1]} jobs open, {waiting} clients waiting for their complete", flush=True)
            time.sleep(1)
        stop.set()
        clients.join(timeout=60)
        out = results(db, followers, kills, outages, plan.lease)
    finally:
        stop.set()
        cluster.stop()
    injected: dict[str, int] = {}
    for fault in faults:  # the schedule as drawn: follow-up steps (restarts, resumes) are not faults
        label = fault.kind + (f" ({fault.seconds:.0f} s)" if fault.seconds else "")
        injected[label] = injected.get(label, 0) + 1
    print(f"\nchaos run, seed {args.seed}, {'--short' if args.short else 'full'}, "
          f"{time.monotonic() - started:.0f} s, lease {plan.lease:.0f} s, "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n")  # fmt: skip
    print("| fault injected | count |\n|---|---|")
    for label, count in injected.items():
        print(f"| {label} | {count} |")
    print("\n| measure | value | goal |\n|---|---|---|")
    for key, value in out.items():
        if key in ("failure messages", "detection goal (s)", "slowest detections", "gaps at clients"):
            continue
        informative = (
            "jobs", "completed", "failed", "client reconnects", "dead-worker detections measured",
            "kills during a MongoDB outage (not measured)", "median time to detect a dead worker (s)",
        )  # fmt: skip
        target = "" if key in informative else "0"
        target = f"<= {out['detection goal (s)']}" if key.startswith("longest") else target
        print(f"| {key} | {value} | {target} |")
    if out["gaps at clients"]:
        print("\nevents missing at clients:", *out["gaps at clients"], sep="\n- ")
    if out["slowest detections"]:
        print("\nslowest detections:", *out["slowest detections"], sep="\n- ")
    if out["failure messages"]:
        print("\nfailed jobs said:", *out["failure messages"], sep="\n- ")
    if args.json:
        print(json.dumps(out, default=str))
    met = goals_met(out)
    print("\nall goals met" if met else "\nGOALS NOT MET")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
