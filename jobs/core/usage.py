"""What the models cost: each attempt's tokens priced (`CONTENTGEN_LLM_PRICES`), recorded for the user's day
and month, and held to the user's monthly budget (`CONTENTGEN_MONTHLY_TOKEN_BUDGET`, 0: none).

The budget is checked when work is created, against one counter per user and month that every attempt's end
moves by an increment: a job already running always finishes, and a new one is refused once the month's
tokens reach the budget.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.utils import timezone

from contentgen import mongo
from contentgen.errors import RateLimited
from jobs.core import store
from jobs.models import GenerationJob, UsageMonth, UsageRecord

PER_TOKENS = 1_000_000


def price_of(model: str) -> tuple[float, float] | None:
    """(input, output) dollars per million tokens for `model`: its own entry, else its name without the
    provider (`openai/gpt-4o-mini` -> `gpt-4o-mini`); None when the prices do not name it."""
    prices = settings.CONTENTGEN_LLM_PRICES or {}
    for name in (model, model.split("/", 1)[-1]):
        entry = prices.get(name)
        if isinstance(entry, dict):
            try:
                return float(entry.get("input", 0)), float(entry.get("output", 0))
            except (TypeError, ValueError):
                return None
    return None


def _cost(model: str, prompt: int, completion: int) -> float | None:
    price = price_of(model)
    if price is None:
        return None
    return round((prompt * price[0] + completion * price[1]) / PER_TOKENS, 6)


def priced(usage: dict[str, Any]) -> dict[str, Any]:
    """`usage` with its cost, and each stage's (None for a model without a price)."""
    model = str(usage.get("model") or "")
    stages = {}
    for stage, entry in (usage.get("stages") or {}).items():
        cost = _cost(model, entry.get("prompt_tokens", 0), entry.get("completion_tokens", 0))
        stages[stage] = {**entry, "cost": cost}
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {"model": model, "prompt_tokens": prompt, "completion_tokens": completion,
            "cost": _cost(model, prompt, completion), "stages": stages}  # fmt: skip


def _add(total: float | None, part: float | None) -> float | None:
    return None if total is None or part is None else round(total + part, 6)


def merged(before: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
    """A job's usage over its attempts: tokens and costs added, stage by stage."""
    if not before:
        return attempt
    stages = {name: dict(entry) for name, entry in (before.get("stages") or {}).items()}
    for name, entry in (attempt.get("stages") or {}).items():
        into = stages.setdefault(name, {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0})
        into["prompt_tokens"] = into.get("prompt_tokens", 0) + entry.get("prompt_tokens", 0)
        into["completion_tokens"] = into.get("completion_tokens", 0) + entry.get("completion_tokens", 0)
        into["cost"] = _add(into.get("cost"), entry.get("cost"))
        if entry.get("estimated"):
            into["estimated"] = True
    return {
        "model": attempt.get("model") or before.get("model"),
        "prompt_tokens": before.get("prompt_tokens", 0) + attempt.get("prompt_tokens", 0),
        "completion_tokens": before.get("completion_tokens", 0) + attempt.get("completion_tokens", 0),
        "cost": _add(before.get("cost"), attempt.get("cost")),
        "stages": stages,
    }


def month_of(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m")


def resets_on(moment: dt.datetime) -> dt.date:
    return (moment.replace(day=28) + dt.timedelta(days=4)).replace(day=1).date()


def record(job: GenerationJob, usage: dict[str, Any]) -> dict[str, Any]:
    """An attempt's tokens: priced, recorded for the user's day and month, added to the job's usage (stored
    at once, so an attempt that dies after this costs what it spent). Returns the job's usage."""
    attempt = priced(usage)
    tokens = attempt["prompt_tokens"] + attempt["completion_tokens"]
    if tokens:
        now = timezone.now()
        UsageRecord.objects.create(
            user_id=job.user_id, job_id=job.pk, model=attempt["model"], day=now.date(),
            prompt_tokens=attempt["prompt_tokens"], completion_tokens=attempt["completion_tokens"],
            cost=attempt["cost"], created_at=now,
        )  # fmt: skip
        mongo.collection(UsageMonth._meta.db_table).update_one(
            {"userId": job.user_id, "month": month_of(now)},
            {"$inc": {"tokens": tokens, "cost": attempt["cost"] or 0.0}},
            upsert=True,
        )
    job.usage = merged(job.usage or {}, attempt)
    store.update_job({"_id": job.pk}, usage=job.usage)
    return job.usage


def spent_this_month(user: Any, now: dt.datetime | None = None) -> int:
    doc = mongo.collection(UsageMonth._meta.db_table).find_one(
        {"userId": user.pk, "month": month_of(now or timezone.now())}, {"tokens": 1}
    )
    return int((doc or {}).get("tokens") or 0)


def check_budget(*, user: Any) -> None:
    """429 once the user's tokens this month reach CONTENTGEN_MONTHLY_TOKEN_BUDGET (0: no budget)."""
    budget = int(settings.CONTENTGEN_MONTHLY_TOKEN_BUDGET)
    if budget <= 0:
        return
    now = timezone.now()
    spent = spent_this_month(user, now)
    if spent >= budget:
        reset = resets_on(now)
        wait = (dt.datetime.combine(reset, dt.time(), tzinfo=dt.UTC) - now).total_seconds()
        raise RateLimited(
            f"Your monthly token budget is spent: {spent:,} of {budget:,} tokens used this month "
            f"(CONTENTGEN_MONTHLY_TOKEN_BUDGET). It resets on {reset.isoformat()}; running jobs finish.",
            retry_after=max(1, math.ceil(wait)),
        )


def _zero() -> dict[str, Any]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}


def summary(*, user: Any | None, now: dt.datetime | None = None) -> dict[str, Any]:
    """This month's tokens and cost, by model and by day: one user's, or everyone's (user None)."""
    now = now or timezone.now()
    first = now.date().replace(day=1)
    rows = UsageRecord.objects.filter(day__gte=first)
    if user is not None:
        rows = rows.filter(user=user)
    by_model: dict[str, dict[str, Any]] = defaultdict(_zero)
    by_day: dict[str, dict[str, Any]] = defaultdict(_zero)
    for row in rows.only("model", "day", "prompt_tokens", "completion_tokens", "cost"):
        for entry in (by_model[row.model], by_day[row.day.isoformat()]):
            entry["prompt_tokens"] += row.prompt_tokens
            entry["completion_tokens"] += row.completion_tokens
            entry["cost"] = _add(entry["cost"], row.cost)
    total_prompt = sum(e["prompt_tokens"] for e in by_model.values())
    total_completion = sum(e["completion_tokens"] for e in by_model.values())
    costs = [e["cost"] for e in by_model.values()]
    budget = int(settings.CONTENTGEN_MONTHLY_TOKEN_BUDGET)
    return {
        "month": month_of(now),
        "scope": "user" if user is not None else "all",
        "prompt_tokens": total_prompt,
        "completion_tokens": total_completion,
        "tokens": total_prompt + total_completion,
        "cost": None if any(c is None for c in costs) else round(sum(costs), 6),
        "budget": budget or None,
        "resets_on": resets_on(now).isoformat(),
        "by_model": [{"model": name, **entry} for name, entry in sorted(by_model.items())],
        "by_day": [{"day": day, **entry} for day, entry in sorted(by_day.items())],
    }
