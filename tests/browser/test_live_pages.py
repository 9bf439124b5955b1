from __future__ import annotations

import re
import shutil
import time
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, CHROMIUM, ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not found on PATH (apt-get install -y chromium)"),
]

STATE_JS = """() => {
  const bar = document.querySelector('[role="progressbar"]');
  const stages = Array.from(document.querySelectorAll('#job-stages .stage')).map(
    (li) => li.className.replace('stage stage-', ''));
  return {value: Number(bar.getAttribute('aria-valuenow')), stages, title: document.title,
          flag: window.__noReload === true};
}"""


def shot(page: Any, name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return str(path)


def test_a_job_created_from_the_form_goes_live_to_100_without_a_reload(page: Any) -> None:
    page.fill("#f-topic", "Urban beekeeping for beginners")
    page.fill("#f-words", "300")
    page.click("#job-form-card button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{24}/$"))
    page.evaluate("() => { window.__noReload = true; }")

    values: list[int] = []
    first_done: dict[str, int] = {}
    running_shot = False
    deadline = time.monotonic() + 120
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = page.evaluate(STATE_JS)
        assert state["flag"], "the page reloaded"
        if not values or values[-1] != state["value"]:
            values.append(state["value"])
        for name, stage_state in zip(("research", "writing", "seo"), state["stages"], strict=False):
            if stage_state == "done":
                first_done.setdefault(name, len(values))
        if 5 <= state["value"] < 90 and not running_shot:
            shot(page, "job-running")
            running_shot = True
        if state["value"] == 100 and page.locator("#job-result .prose").count():
            break
        time.sleep(0.1)

    assert values[-1] == 100, values
    assert len(set(values)) >= 4, f"the bar moved only through {values}"
    assert values == sorted(values), f"the bar went backwards: {values}"
    assert state["stages"] == ["done", "done", "done"]
    assert first_done["research"] <= first_done["writing"] <= first_done["seo"], first_done
    assert state["title"].startswith("100% · "), state["title"]
    assert page.evaluate("() => window.__noReload === true")
    assert page.locator("#job-result .scores").is_visible()
    assert page.locator("[data-elapsed-since][data-elapsed-final]").count() == 1, "elapsed time froze"
    path = shot(page, "job-finished")
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copyfile(path, ROOT / "docs" / "job-page.png")


def test_a_batch_of_five_from_the_textarea_reaches_5_of_5(page: Any) -> None:
    topics = "\n".join(f"Balcony gardening tip {n}" for n in range(1, 6))
    page.fill("#b-topics", topics)
    page.fill("#b-words", "200")
    page.click("#batch-form-card button[type=submit]")
    page.wait_for_url(re.compile(r"/bulk/[0-9a-f]{24}/$"))
    page.evaluate("() => { window.__noReload = true; }")
    assert page.locator("#bulk-summary").inner_text().startswith("0 of 5")
    page.wait_for_function(
        "() => document.querySelector('#bulk-summary .big-pct').textContent.trim() === '5 of 5'", timeout=180_000
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
    assert page.locator("#f-keywords").is_visible(), "the re-rendered form keeps the chosen mode"
    assert page.locator("#f-topic").is_hidden()
    assert page.url.endswith("/")
