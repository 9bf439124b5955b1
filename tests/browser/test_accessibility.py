"""Every page in Chromium, checked by axe-core for WCAG 2.0/2.1 A and AA: no serious or critical violation.

The pages run under their real Content-Security-Policy (tests/browser/axe.py injects the script without a
tag). Live pages are checked while their stream moves them and again once they have ended.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs.core import events as job_events
from jobs.models import GenerationJob, JobError, Progress, WebhookDelivery, WebhookEndpoint
from progress import events
from tests.browser.axe import axe_source, describe, violations
from tests.browser.conftest import CHROMIUM, PASSWORD, Stack
from tests.factories import UserFactory, a_result

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("browser-a11y"),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not found on PATH (apt-get install -y chromium)"),
]

BAR_JS = "() => Number(document.querySelector('[role=\"progressbar\"]').getAttribute('aria-valuenow'))"
FINISHED_JS = "() => document.querySelector('#job-result .prose') !== null"


def assert_accessible(page: Any) -> None:
    found = violations(page)
    assert not found, f"{page.url}:\n{describe(found)}"


@pytest.fixture(scope="module", autouse=True)
def seeded(live_server_stack: Stack, django_db_blocker: Any) -> dict[str, str]:
    """What the pages show, written before Chromium starts (its sync API runs an event loop in this thread,
    where Django refuses database calls): a completed and a failed article over two days with their final
    event (nothing queued, so the worker leaves them alone), a disabled webhook endpoint with a failed
    delivery (disabled: nothing is ever sent to it), and a staff user."""
    axe_source()
    with django_db_blocker.unblock():
        # This process's connection names the stack's database, which no migration ran on: give its event
        # log the unique index every read hints (idempotent).
        events.collection().create_index([("job_id", 1), ("seq", 1)], name=events.INDEX, unique=True)
        user = get_user_model().objects.get(username=live_server_stack.username)
        made = {}
        for day, (name, failed) in enumerate((("completed", False), ("failed", True))):
            stamp = timezone.now() - dt.timedelta(days=day, hours=1)
            job = GenerationJob.objects.create(
                user=user,
                mode="topic",
                topic=f"Solar roofs, {name}",
                status="failed" if failed else "completed",
                progress=Progress(
                    stage="seo" if failed else "completed",
                    percentage=80 if failed else 100,
                    started_at=stamp,
                    completed_at=stamp + dt.timedelta(seconds=30),
                    elapsed_seconds=30,
                ),
                result=None if failed else a_result(meta_title="Solar roofs"),
                error=JobError(message="The SEO model timed out", stage="seo") if failed else None,
                stage_timings={s: {"seconds": 10.0} for s in ("research", "writing", "seo")},
                created_at=stamp,
                updated_at=stamp,
            )
            job_events.job_emit(job=job, type="complete")
            made[name] = str(job.pk)
        endpoint = WebhookEndpoint.objects.create(
            user=user,
            url="https://hooks.example.com/contentgen",
            events=["bulk.completed"],
            secret="whsec-test",
            active=False,
            disabled_reason="Disabled after 24 hours of failed deliveries.",
            disabled_at=timezone.now(),
        )
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_type="bulk.completed",
            body="{}",
            status=WebhookDelivery.Status.FAILED,
            attempt_count=1,
            attempts=[{"at": timezone.now().isoformat(), "status_code": 500, "duration_ms": 12,
                       "error": "HTTP 500", "next_attempt_at": None}],
        )  # fmt: skip
        made["staff"] = f"staff-{uuid.uuid4().hex[:8]}"
        UserFactory(username=made["staff"], password=PASSWORD, is_staff=True, is_superuser=True)
    return made


@pytest.fixture(scope="module")
def staff_page(live_server_stack: Stack, browser: Any, seeded: dict[str, str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server_stack.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/accounts/login/")
    page.fill("input[name=username]", seeded["staff"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server_stack.url}/")
    try:
        yield page
    finally:
        context.close()


@pytest.mark.parametrize(
    "path",
    ["/", "/history/", "/analytics/", "/analytics/?mode=topic&days=7", "/settings/webhooks/", "/sources/"],
)
def test_a_page_has_no_serious_violation(page: Any, seeded: dict[str, str], path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("load")
    assert_accessible(page)


@pytest.mark.parametrize("name", ["completed", "failed"])
def test_an_ended_job_page_has_no_serious_violation(page: Any, seeded: dict[str, str], name: str) -> None:
    page.goto(f"/jobs/{seeded[name]}/")
    page.wait_for_load_state("load")
    assert_accessible(page)


def test_the_login_page_has_no_serious_violation(browser: Any, live_server_stack: Stack) -> None:
    context = browser.new_context(base_url=live_server_stack.url)
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        assert_accessible(page)
        page.fill("input[name=username]", "nobody")
        page.fill("input[name=password]", "wrong-password")
        page.click("button[type=submit]")
        page.wait_for_selector(".alert-error")
        assert_accessible(page)
    finally:
        context.close()


def test_the_job_form_in_its_error_state_has_no_serious_violation(page: Any) -> None:
    page.click("#job-form-card label:has(input[value=keywords])")
    page.click("#job-form-card button[type=submit]")
    page.wait_for_selector("#err-keywords")
    assert_accessible(page)


def test_the_batch_form_in_its_error_state_has_no_serious_violation(page: Any) -> None:
    page.click("#batch-form-card button[type=submit]")
    page.wait_for_selector("#batch-form-card .alert-error")
    assert_accessible(page)


def test_a_job_page_while_running_and_once_done_has_no_serious_violation(page: Any) -> None:
    page.fill("#f-topic", "Green roofs for garden sheds")
    page.fill("#f-words", "150")
    page.click("#job-form-card button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{24}/$"))
    page.wait_for_function(f"() => ({BAR_JS})() >= 5", timeout=90_000)
    assert_accessible(page)
    page.wait_for_function(FINISHED_JS, timeout=120_000)
    assert_accessible(page)


def test_a_batch_page_while_running_and_once_done_has_no_serious_violation(page: Any) -> None:
    page.fill("#b-topics", "Herb spirals\nDry stone walls")
    page.fill("#b-words", "200")
    page.click("#batch-form-card button[type=submit]")
    page.wait_for_url(re.compile(r"/bulk/[0-9a-f]{24}/$"))
    assert_accessible(page)
    page.wait_for_function(
        "() => document.querySelector('#bulk-summary .big-pct').textContent.trim() === '2 of 2'", timeout=120_000
    )
    assert_accessible(page)
    page.goto("/")
    assert_accessible(page)


def test_the_webhooks_form_in_its_error_state_has_no_serious_violation(page: Any) -> None:
    page.goto("/settings/webhooks/")
    page.fill("#w-url", "https://unresolvable.invalid/hooks")
    page.check("input[name=events][value='job.completed']")
    page.click("#webhook-form-card button[type=submit]")
    page.wait_for_selector("#err-url")
    assert_accessible(page)


def test_the_sources_page_with_a_source_has_no_serious_violation(page: Any) -> None:
    page.goto("/sources/")
    page.fill("#s-text-title", "Kiln notes")
    page.fill("#s-text", "# Kiln notes\n\nA kiln holds its heat for nine hours on one bag of charcoal.\n")
    page.click("form:has(#s-text) button[type=submit]")
    page.wait_for_selector("#sources-list > li[id^=source-]")
    assert_accessible(page)


@pytest.mark.parametrize("path", ["/ops/", "/admin/", "/admin/jobs/generationjob/", "job-change"])
def test_a_staff_page_has_no_serious_violation(staff_page: Any, seeded: dict[str, str], path: str) -> None:
    if path == "job-change":
        path = f"/admin/jobs/generationjob/{seeded['failed']}/change/"
    staff_page.goto(path)
    staff_page.wait_for_load_state("load")
    assert_accessible(staff_page)


# Records, on the job page: each move of the overall bar (and whether the element focused at the start still
# had focus then), its aria-valuetext, the tab title, and every text of the live region. Event-driven.
WATCH_JS = """() => {
  const bar = () => document.querySelector('[role="progressbar"]');
  window.__focused = document.activeElement;
  window.__updates = [];
  window.__said = [];
  window.__titles = [document.title];
  window.__valuetexts = [];
  let value = bar().getAttribute('aria-valuenow');
  new MutationObserver(() => {
    if (bar().getAttribute('aria-valuenow') !== value) {
      value = bar().getAttribute('aria-valuenow');
      window.__updates.push(document.activeElement === window.__focused && window.__focused.isConnected);
    }
    const text = bar().getAttribute('aria-valuetext');
    if (text !== window.__valuetexts[window.__valuetexts.length - 1]) window.__valuetexts.push(text);
    if (document.title !== window.__titles[window.__titles.length - 1]) window.__titles.push(document.title);
  }).observe(document.getElementById('main'), {attributes: true, childList: true, subtree: true,
                                              attributeFilter: ['aria-valuenow']});
  const region = document.getElementById('live-announcer');
  new MutationObserver(() => {
    const text = region.textContent.trim();
    if (text) window.__said.push(text);
  }).observe(region, {childList: true, characterData: true, subtree: true});
}"""

# A stand-in for the browser's Notification API, installed before the page's scripts: it records what is
# asked and shown, and grants permission when asked.
FAKE_NOTIFICATION_JS = """
window.__asked = 0;
window.__notes = [];
class FakeNotification {
  constructor(title, options) { window.__notes.push({title, body: options && options.body}); }
  close() {}
}
FakeNotification.permission = 'default';
FakeNotification.requestPermission = () => {
  window.__asked += 1;
  FakeNotification.permission = 'granted';
  return Promise.resolve('granted');
};
window.Notification = FakeNotification;
"""


def start_job(page: Any, topic: str, words: int) -> None:
    page.fill("#f-topic", topic)
    page.fill("#f-words", str(words))
    page.click("#job-form-card button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{24}/$"))


def test_keyboard_focus_on_cancel_survives_live_updates(page: Any) -> None:
    start_job(page, "Wildflower meadows in a small garden", 400)
    page.wait_for_function(f"() => ({BAR_JS})() >= 1", timeout=60_000)
    cancel = page.locator("#job-actions [data-action=cancel]")
    cancel.focus()
    page.evaluate(WATCH_JS)
    start = page.evaluate(BAR_JS)

    page.wait_for_function("() => window.__updates.length >= 8", timeout=60_000)

    updates = page.evaluate("() => window.__updates")
    assert all(updates), f"focus left Cancel during an update: {updates}"
    assert page.evaluate(BAR_JS) > start, "the bar did not move while Cancel had focus"
    assert page.evaluate("() => document.activeElement.getAttribute('data-action')") == "cancel"
    title = page.title()
    assert re.fullmatch(r"\d{1,3}% · (Research|Writing|SEO) · contentgen", title), title

    # The cancel reaches the server at once, but its answer is held until the stream has said "Cancelled" and
    # turned the button into Retry: the order a loaded server can produce, forced. The page must take the 202
    # as the cancel's (no reload) and hand focus back to the same button.
    held: list[tuple[Any, Any]] = []
    page.route("**/api/jobs/*/cancel/", lambda route: held.append((route, route.fetch())))
    page.evaluate("() => { window.__loaded = true; }")  # gone if the page reloads
    page.keyboard.press("Enter")  # the focused Cancel, from the keyboard
    page.wait_for_function("() => document.querySelector('#job-status').textContent.trim() === 'Cancelled'",
                           timeout=30_000)  # fmt: skip
    assert page.evaluate("() => document.querySelector('#job-actions [data-action]').dataset.action") == "retry"
    assert len(held) == 1 and held[0][1].status == 202
    held[0][0].fulfill(response=held[0][1])
    page.wait_for_function("() => document.activeElement === window.__focused", timeout=10_000)
    page.wait_for_function("() => document.querySelector('#action-message').textContent === 'Cancel requested.'",
                           timeout=10_000)  # fmt: skip
    assert page.evaluate("() => window.__loaded === true"), "the cancel's answer was taken for a retry's"
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Retry"
    page.wait_for_function("() => window.__said.includes('The article was cancelled.')", timeout=10_000)


def test_the_live_region_speaks_stages_endings_and_the_connection_once(page: Any, live_server_stack: Stack) -> None:
    start_job(page, "Rain barrels for allotments", 300)
    page.evaluate(WATCH_JS)
    page.wait_for_function(f"() => ({BAR_JS})() >= 1", timeout=60_000)
    # The stream must be open before it drops: the page may render a job already past 1% on a loaded machine,
    # and a restart before the first connection is only a late start, with nothing to announce.
    page.wait_for_selector("[data-live-indicator][data-state=open]", state="attached", timeout=30_000)
    live_server_stack.daphne.restart()  # the page's stream drops and reconnects
    page.wait_for_function(FINISHED_JS, timeout=120_000)
    page.wait_for_function("() => window.__said.includes('Your article is ready.')", timeout=10_000)

    said = page.evaluate("() => window.__said")  # messages that arrive together are said together
    sentences = re.split(r"(?<=\.)\s+", " ".join(said))
    assert not [text for text in sentences if "%" in text], f"a percentage was announced: {said}"
    assert sentences.count("Live updates interrupted; reconnecting.") == 1, said
    assert sentences.count("Live updates resumed.") == 1, said
    stages = [text for text in sentences if text.endswith("stage started.")]
    assert stages in (["Writing stage started.", "SEO stage started."],
                      ["Research stage started.", "Writing stage started.", "SEO stage started."]), said  # fmt: skip
    assert sentences[-1] == "Your article is ready.", said
    assert len(said) <= 7, f"too many announcements: {said}"

    texts = page.evaluate("() => window.__valuetexts")
    running = [t for t in texts if t and not t.endswith("completed")]
    assert running, texts
    for text in running:
        assert re.fullmatch(r"\d{1,3}%, (queued|research|writing|SEO)(, less than a minute left|, about \d+ minutes left)?",
                            text), text  # fmt: skip
    assert texts[-1] == "100%, completed"
    titles = page.evaluate("() => window.__titles")
    assert any(re.fullmatch(r"\d{1,2}% · (Research|Writing|SEO) · contentgen", t) for t in titles), titles
    assert page.title() == "100% · Completed · contentgen"


def test_a_notification_is_asked_for_on_click_only_and_fires_when_the_job_ends(page: Any) -> None:
    page.add_init_script(FAKE_NOTIFICATION_JS)
    start_job(page, "Moss lawns", 150)
    button = page.locator("#notify-toggle")
    button.wait_for(state="visible")
    assert page.evaluate("() => window.__asked") == 0, "permission was asked on load"
    assert button.get_attribute("aria-pressed") == "false"

    button.click()
    page.wait_for_function("() => document.getElementById('notify-toggle').getAttribute('aria-pressed') === 'true'")
    assert page.evaluate("() => window.__asked") == 1
    page.wait_for_function(FINISHED_JS, timeout=120_000)
    page.wait_for_function("() => window.__notes.length > 0", timeout=10_000)

    notes = page.evaluate("() => window.__notes")
    assert notes == [{"title": "Moss lawns", "body": "Your article is ready."}]
    assert button.is_hidden()


def test_reduced_motion_stops_the_bars_moving(page: Any) -> None:
    page.emulate_media(reduced_motion="reduce")
    start_job(page, "Bird baths", 300)
    page.wait_for_selector("#job-progress .bar-processing")
    style = page.evaluate("""() => {
      const fill = getComputedStyle(document.querySelector('#job-progress .bar-fill'));
      return {animation: fill.animationName, transition: fill.transitionDuration};
    }""")  # fmt: skip
    assert style == {"animation": "none", "transition": "0s"}, style
    page.emulate_media(reduced_motion="no-preference")
    moving = page.evaluate("() => getComputedStyle(document.querySelector('#job-progress .bar-fill')).animationName")
    assert moving == "bar-flow"
