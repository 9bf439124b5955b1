"""What each article costs: tokens per stage and per job, their price, the user's month, and the budget."""

from __future__ import annotations

import pytest
from django.test import override_settings

from jobs.core import usage
from jobs.models import GenerationJob, UsageRecord
from progress import events
from tests.stack import burst_here

pytestmark = pytest.mark.django_db

PRICES = {"offline": {"input": 2.0, "output": 8.0}}


def write(api, topic: str = "Balcony composting", words: int = 300) -> dict:
    response = api.post("/api/jobs/", {"mode": "topic", "topic": topic, "word_count": words}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_job_stores_its_tokens_per_stage_and_in_all(api):
    created = write(api)
    burst_here(timeout=120)
    spent = api.get(f"/api/jobs/{created['id']}/").json()["result"]["usage"]
    assert spent["model"] == "offline" and set(spent["stages"]) == {"research", "writing", "seo"}
    assert spent["prompt_tokens"] == sum(s["prompt_tokens"] for s in spent["stages"].values()) > 0
    assert spent["completion_tokens"] == sum(s["completion_tokens"] for s in spent["stages"].values()) > 0
    assert spent["cost"] is None, "a model without a price shows tokens without a cost"


@override_settings(CONTENTGEN_LLM_PRICES=PRICES)
def test_a_priced_models_cost_is_its_tokens_at_its_prices(api):
    created = write(api)
    burst_here(timeout=120)
    spent = api.get(f"/api/jobs/{created['id']}/").json()["result"]["usage"]
    expected = (spent["prompt_tokens"] * 2.0 + spent["completion_tokens"] * 8.0) / 1_000_000
    assert spent["cost"] == pytest.approx(expected, abs=1e-6) and spent["cost"] > 0


def test_progress_events_carry_the_tokens_so_far_and_their_rate(api):
    created = write(api)
    burst_here(timeout=120, CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="2000")
    stream = GenerationJob.objects.get(pk=created["id"]).pk
    counted = [e["data"]["tokens"] for e in events.after(stream, 0) if "tokens" in e["data"]]
    assert counted, "no progress event carried tokens"
    totals = [t["total"] for t in counted]
    assert totals == sorted(totals) and totals[-1] > totals[0] > 0
    assert all(t["per_second"] > 0 for t in counted)


def test_the_usage_api_adds_up_the_month_by_model_and_by_day(api, user):
    write(api)
    write(api, topic="Worm bins")
    burst_here(timeout=120)
    month = api.get("/api/usage/").json()
    recorded = list(UsageRecord.objects.filter(user=user))
    assert len(recorded) == 2 and month["tokens"] == sum(r.tokens for r in recorded) > 0
    assert [row["model"] for row in month["by_model"]] == ["offline"]
    assert len(month["by_day"]) == 1 and month["by_day"][0]["prompt_tokens"] == month["prompt_tokens"]
    assert month["budget"] is None and month["scope"] == "user"


def test_another_users_tokens_are_not_in_mine(api, other_api):
    write(api)
    burst_here(timeout=120)
    assert other_api.get("/api/usage/").json()["tokens"] == 0


def test_a_spent_budget_refuses_new_work_with_its_figures_and_enqueues_nothing(api, user):
    with override_settings(CONTENTGEN_MONTHLY_TOKEN_BUDGET=3000):
        for topic in ("First", "Second", "Third", "Fourth"):
            if usage.spent_this_month(user) >= 3000:
                break
            write(api, topic=topic)
            burst_here(timeout=120)
        spent = usage.spent_this_month(user)
        assert spent >= 3000, "the jobs did not spend the budget"
        before = GenerationJob.objects.count()
        refused = api.post("/api/jobs/", {"mode": "topic", "topic": "One too many"}, format="json")
        batch = api.post("/api/bulk-jobs/", {"items": [{"mode": "topic", "topic": "x"}]}, format="json")
    assert refused.status_code == 429 and batch.status_code == 429
    detail = refused.json()["detail"]
    assert f"{spent:,} of 3,000 tokens" in detail and "resets on" in detail and refused.has_header("Retry-After")
    assert GenerationJob.objects.count() == before


def test_a_budget_of_zero_means_no_budget(api, user):
    with override_settings(CONTENTGEN_MONTHLY_TOKEN_BUDGET=0):
        write(api)
        burst_here(timeout=120)
        assert write(api, topic="Again")["status"] == "queued"


@pytest.mark.parametrize(
    ("model", "price"),
    [("openai/gpt-4o-mini", (0.15, 0.6)), ("gpt-4o-mini", (0.15, 0.6)), ("anthropic/claude", None)],
)
def test_a_price_is_found_by_the_model_or_its_name_without_the_provider(model, price):
    with override_settings(CONTENTGEN_LLM_PRICES={"gpt-4o-mini": {"input": 0.15, "output": 0.6}}):
        assert usage.price_of(model) == price


def test_a_jobs_usage_adds_up_over_its_attempts():
    first = {"model": "m", "prompt_tokens": 10, "completion_tokens": 5, "cost": 0.5,
             "stages": {"research": {"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.5}}}  # fmt: skip
    again = {"model": "m", "prompt_tokens": 4, "completion_tokens": 1, "cost": None,
             "stages": {"research": {"prompt_tokens": 4, "completion_tokens": 1, "cost": None}}}  # fmt: skip
    total = usage.merged(first, again)
    assert (total["prompt_tokens"], total["completion_tokens"], total["cost"]) == (14, 6, None)
    assert total["stages"]["research"] == {"prompt_tokens": 14, "completion_tokens": 6, "cost": None}
