"""The terminal side of `manage.py generate` and `manage.py jobs`: create through the same validation and
services as the API, and follow the event log through the same path as SSE (replay, then live)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bson import ObjectId
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.text import Text

from contentgen.errors import ApplicationError, InvalidInput
from jobs.core import selectors, services
from jobs.core.events import bulk_group, job_group
from jobs.core.inputs import batch_errors, batch_from_csv, field_errors, job_payload
from jobs.models import BulkJob, GenerationJob
from jobs.pipeline.seo import report_groups
from progress.streams import Item, follow

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
# Stored text reaches an operator's terminal: text from before the input refused control characters, and
# the models' output, may hold ESC sequences that rewrite the screen, or a CR or LF that fakes a row.
_BREAKS = re.compile(r"[\t\n\r]+")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(text: Any, width: int | None = None) -> str:
    """Text for one terminal line: tabs and line breaks as a space, every other control character dropped."""
    clean = _CONTROLS.sub("", _BREAKS.sub(" ", str(text)))
    return clean[:width] if width is not None else clean


class BadInput(Exception):
    """Input the API would answer 400 to: one readable line per problem."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


def find_user(username: str) -> Any:
    model: Any = get_user_model()
    user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
    if user is None:
        raise BadInput([f"user: no user is called {username!r}."])
    return user


def _sentences(errors: Mapping[str, Any]) -> list[str]:
    return [f"{name}: {message}" for name, messages in field_errors(errors).items() for message in messages]


def create_job(*, user: Any, fields: Mapping[str, str]) -> GenerationJob:
    """`fields` as the HTML form sends them (keywords comma separated); validated like POST /api/jobs/. An
    operator's command: not charged against the user's rate."""
    try:
        return services.job_submit(user=user, data=job_payload(fields), charge=False)
    except InvalidInput as exc:
        raise BadInput(_sentences(exc.errors)) from exc
    except ApplicationError as exc:
        raise BadInput([exc.message]) from exc


def create_batch(*, user: Any, csv_path: Path, defaults: Mapping[str, str]) -> BulkJob:
    """A CSV file read exactly like the page's upload (same columns, same row labels in messages)."""
    try:
        content = csv_path.read_bytes()
    except OSError as exc:
        raise BadInput([f"csv: cannot read {csv_path}: {exc.strerror}."]) from exc
    wanted = {name: value.strip() for name, value in defaults.items() if value and value.strip()}
    batch = batch_from_csv(content, wanted)
    if batch.errors:
        raise BadInput(batch.errors)
    try:
        return services.bulk_submit(user=user, data=batch.payload, charge=False)
    except InvalidInput as exc:
        raise BadInput(batch_errors(exc.errors, batch.row_labels)) from exc
    except ApplicationError as exc:
        raise BadInput([exc.message]) from exc


def report_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The SEO report for a terminal: per group, problems first, each status in words (no colour needed)."""
    lines = []
    for group in report_groups(rows):
        counts = group["counts"]
        lines.append(
            f"{group['label']} checks: {counts['problem']} problems, {counts['ok']} to improve, "
            f"{counts['good']} good"
        )
        lines.extend(f"  {v['status_label']:<8} {v['label']}: {v['message']}" for v in group["verdicts"])
    return lines


def page_url(obj: GenerationJob | BulkJob) -> str:
    name = "bulk-detail" if isinstance(obj, BulkJob) else "job-detail"
    base = getattr(settings, "CONTENTGEN_PUBLIC_URL", "") or "http://localhost:8000"
    return base.rstrip("/") + reverse(name, args=[str(obj.pk)])


def _eta(value: str | None) -> str:
    if not value:
        return ""
    left = (dt.datetime.fromisoformat(value) - dt.datetime.now(dt.UTC)).total_seconds()
    return f"ETA {int(left // 60)}:{int(left % 60):02d}" if left > 0 else "ETA any moment"


@dataclass
class Outcome:
    """How followed work ended: (title, stage, message) for each article that did not complete."""

    failures: list[tuple[str, str, str]] = field(default_factory=list)
    unfinished: bool = False

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failures or self.unfinished else EXIT_OK


async def _events(stream_id: ObjectId, group: str, on_item: Callable[[Item], None]) -> None:
    async for item in follow(stream_id=stream_id, group=group, last_event_id=None):
        if item.type != "ping":
            on_item(item)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[state]}", markup=False),
        console=console,
    )


def follow_job(job: GenerationJob, console: Console) -> Outcome:
    outcome = Outcome()
    final: dict[str, Any] = {}
    with _progress(console) as bars:
        task = bars.add_task(shown(job.title, 50), total=100, state="")

        def show(item: Item) -> None:
            data = item.data
            progress = data.get("progress") or {}
            stage = str(progress.get("stage") or "")
            state = f"{stage} · {_eta(progress.get('estimated_completion'))}".strip(" ·")
            if item.type == "complete":
                final.update(data)
                state = str(data.get("status"))
            bars.update(task, completed=float(progress.get("percentage") or 0), state=shown(state))

        asyncio.run(_events(job.pk, job_group(job.pk), show))
    if final.get("status") != GenerationJob.Status.COMPLETED:
        error = final.get("error") or {}
        outcome.failures.append(
            (job.title, str(error.get("stage") or "-"), str(error.get("message") or final.get("status")))
        )
    return outcome


def follow_batch(bulk: BulkJob, console: Console) -> Outcome:
    jobs = list(selectors.bulk_jobs(bulk=bulk))
    with _progress(console) as bars:
        rows: dict[str, TaskID] = {
            str(job.pk): bars.add_task(
                shown(job.title, 50), total=100, completed=job.progress.percentage, state=job.status
            )
            for job in jobs
        }

        def show(item: Item) -> None:
            data = item.data
            for current in data.get("current") or []:
                if current.get("job_id") in rows:
                    bars.update(
                        rows[current["job_id"]],
                        completed=float(current.get("percentage") or 0),
                        state=shown(current.get("stage")),
                    )
            member = data.get("job")
            if member and member.get("job_id") in rows:
                status = member.get("status")
                state = member.get("stage") if status == GenerationJob.Status.PROCESSING else status
                bars.update(
                    rows[member["job_id"]], completed=float(member.get("percentage") or 0), state=shown(state)
                )

        asyncio.run(_events(bulk.pk, bulk_group(bulk.pk), show))
        for job in selectors.bulk_jobs(bulk=bulk):
            bars.update(rows[str(job.pk)], completed=job.progress.percentage, state=job.status)
    return batch_outcome(bulk)


def batch_outcome(bulk: BulkJob) -> Outcome:
    outcome = Outcome()
    for job in selectors.bulk_jobs(bulk=bulk):
        if job.status == GenerationJob.Status.COMPLETED:
            continue
        if job.status not in GenerationJob.TERMINAL:
            outcome.unfinished = True
            continue
        stage = job.error.stage if job.error else job.progress.stage
        message = job.error.message if job.error else job.progress.message
        outcome.failures.append((job.title, stage, message))
    return outcome


def report(outcome: Outcome, console: Console) -> None:
    for title, stage, message in outcome.failures:
        # Titles and messages are untrusted text: never parsed as rich markup.
        line = f" {shown(title)} (stage {shown(stage)}): {shown(message)}"
        console.print(Text.assemble(("failed", "bold red"), line))


def usage_line(usage: Mapping[str, Any]) -> str:
    """"1,234 tokens (1,000 in, 234 out) with offline, cost $0.0012" (or "no price set")."""
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    cost = usage.get("cost")
    priced = f"cost ${cost:.4f}" if isinstance(cost, int | float) else "no price set for this model"
    tokens = f"{prompt + completion:,} tokens ({prompt:,} in, {completion:,} out)"
    return f"{tokens} with {usage.get('model')}, {priced}"
