from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, Stack

pytestmark = [
    pytest.mark.slow,
    # One xdist node runs the whole module, so its stack (daphne, a worker, Chromium) starts once.
    pytest.mark.xdist_group("browser"),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not found on PATH (apt-get install -y chromium)"),
]

STAGES = ("research", "writing", "seo")
RESTART_WORDS = 100  # about 15 s at the stack's pace (conftest.PACE): the restart lands mid-job

# Sets window.__noReload (a reload would drop it) and records every distinct state of the job page as the
# stream changes it: overall bar, stage states, live indicator. Event-driven (MutationObserver), no polling.
RECORD_JS = """() => {
  window.__noReload = true;
  const snap = () => {
    const bar = document.querySelector('[role="progressbar"]');
    const stages = Array.from(document.querySelectorAll('#job-stages .stage')).map(
      (li) => li.className.replace('stage stage-', ''));
    const indicator = document.querySelector('[data-live-indicator]');
    return {value: Number(bar.getAttribute('aria-valuenow')), stages,
            live: indicator && !indicator.hidden ? indicator.getAttribute('data-state') : null};
  };
  const key = (s) => JSON.stringify([s.value, s.stages, s.live]);
  const trace = window.__trace = [snap()];
  new MutationObserver(() => {
    const s = snap();
    if (key(s) !== key(trace[trace.length - 1])) trace.push(s);
  }).observe(document.body, {childList: true, subtree: true, attributes: true,
                             attributeFilter: ['aria-valuenow', 'class', 'data-state', 'hidden']});
}"""

FINISHED_JS = """() => {
  const bar = document.querySelector('[role="progressbar"]');
  return bar.getAttribute('aria-valuenow') === '100' && document.querySelector('#job-result .prose') !== null;
}"""

EVENTS_JS = """() => Array.from(document.querySelectorAll('#job-events li')).map((li) => ({
  id: li.id, key: li.getAttribute('data-key'), time: li.querySelector('time').getAttribute('datetime')}))"""


def shot(page: Any, name: str) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return str(path)


def create_job(page: Any, topic: str, words: int) -> None:
    page.fill("#f-topic", topic)
    page.fill("#f-words", str(words))
    page.click("#job-form-card button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{24}/$"))
    page.evaluate(RECORD_JS)


def wait_for_value(page: Any, minimum: int, timeout: float) -> None:
    page.wait_for_function(
        "(min) => Number(document.querySelector('[role=\"progressbar\"]').getAttribute('aria-valuenow')) >= min",
        arg=minimum,
        timeout=timeout * 1000,
    )


def assert_ran_in_order(trace: list[dict[str, Any]]) -> list[int]:
    """The bar never went backwards, ended at 100, and the stages finished one after the other."""
    values = [state["value"] for state in trace]
    assert values[-1] == 100, values
    assert values == sorted(values), f"the bar went backwards: {values}"
    for state in trace:
        done = [s == "done" for s in state["stages"]]
        assert done == sorted(done, reverse=True), f"a stage finished before an earlier one: {state['stages']}"
    assert trace[-1]["stages"] == ["done"] * len(STAGES)
    return values


def assert_no_duplicate_activity(page: Any) -> list[dict[str, str]]:
    items: list[dict[str, str]] = page.evaluate(EVENTS_JS)
    assert items, "the activity list is empty"
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)), f"repeated ids in the activity list: {ids}"
    entries = [(item["key"], item["time"]) for item in items]
    assert len(entries) == len(set(entries)), f"an activity entry shows twice: {entries}"
    repeats = [a["key"] for a, b in zip(items, items[1:], strict=False) if a["key"] == b["key"]]
    assert not repeats, f"consecutive activity entries repeat: {repeats}"
    return items


def test_a_job_created_from_the_form_goes_live_to_100_without_a_reload(page: Any) -> None:
    create_job(page, "Urban beekeeping for beginners", 300)
    wait_for_value(page, 5, timeout=90)
    shot(page, "job-running")
    page.wait_for_function(FINISHED_JS, timeout=90_000)

    values = assert_ran_in_order(page.evaluate("() => window.__trace"))
    assert len(set(values)) >= 4, f"the bar moved only through {values}"
    assert page.title().startswith("100% · "), page.title()
    assert page.evaluate("() => window.__noReload === true"), "the page reloaded"
    assert page.locator("#job-result .scores").is_visible()
    assert page.locator("[data-elapsed-since][data-elapsed-final]").count() == 1, "elapsed time froze"
    assert_no_duplicate_activity(page)
    shot(page, "job-finished")


def test_the_job_page_survives_a_daphne_restart_mid_job(page: Any, live_server_stack: Stack) -> None:
    create_job(page, "Rainwater harvesting on a balcony", RESTART_WORDS)
    wait_for_value(page, 1, timeout=60)
    before = page.evaluate("() => window.__trace.length")

    live_server_stack.daphne.restart()  # same port: the page's EventSource reconnects with Last-Event-ID
    page.wait_for_function(FINISHED_JS, timeout=90_000)

    trace: list[dict[str, Any]] = page.evaluate("() => window.__trace")
    assert page.evaluate("() => window.__noReload === true"), "the page reloaded"
    values = assert_ran_in_order(trace)
    assert values[before - 1] < 100, "the job finished before the restart"
    assert len(set(values[before:])) >= 2, f"the bar did not move after the restart: {values}"
    live = [state["live"] for state in trace]
    drop = live.index("retry")
    assert "open" in live[:drop], live
    assert "open" in live[drop:], f"the stream did not reconnect: {live}"
    assert live[-1] == "done", live
    items = assert_no_duplicate_activity(page)
    assert "completed" in items[-1]["key"], items[-1]
    shot(page, "job-after-restart")


def test_a_batch_of_five_from_the_textarea_reaches_5_of_5(page: Any) -> None:
    topics = "\n".join(f"Balcony gardening tip {n}" for n in range(1, 6))
    page.fill("#b-topics", topics)
    page.fill("#b-words", "200")
    page.click("#batch-form-card button[type=submit]")
    page.wait_for_url(re.compile(r"/bulk/[0-9a-f]{24}/$"))
    page.evaluate("() => { window.__noReload = true; }")
    assert page.locator("#bulk-summary").inner_text().startswith("0 of 5")
    page.wait_for_function(
        "() => document.querySelector('#bulk-summary .big-pct').textContent.trim() === '5 of 5'", timeout=90_000
    )
    assert page.evaluate("() => window.__noReload === true")
    assert page.title() == "5 of 5 · contentgen"
    shot(page, "batch-page")
    page.wait_for_function(
        "() => document.querySelectorAll('.grid-table tbody .badge-completed').length === 5", timeout=30_000
    )
    bar = page.locator("#bulk-summary [role=progressbar]")
    assert bar.get_attribute("aria-valuenow") == "100"
    shot(page, "batch-page")

    page.goto("/")
    assert page.locator("#dashboard-batches .list-row").count() >= 1
    shot(page, "dashboard")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "dashboard-mobile")


def test_the_dashboard_form_shows_errors_per_field(page: Any) -> None:
    page.click("#job-form-card label:has(input[value=keywords])")
    assert page.locator("#f-topic").is_hidden()
    page.click("#job-form-card button[type=submit]")
    page.wait_for_selector("#err-keywords")
    assert "keywords mode needs 1 to 20 keywords." in page.inner_text("#err-keywords")
    assert page.locator("#f-keywords").is_visible()
    assert page.locator("#f-topic").is_hidden()
    assert page.url.endswith("/")
