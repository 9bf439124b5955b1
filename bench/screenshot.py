"""The README's job-page screenshot, taken from a running contentgen as a creator sees it.

Start contentgen first (`make run LLM=local` for the local model), then:

    python bench/screenshot.py --password <the demo password make run printed>

It logs in, creates a job through the form, waits until the article is streaming into the page (writing
at --at percent), saves the page to docs/job-page.png, waits for the job to finish, and prints the
start of the written article (the README's excerpt). Needs Debian's `chromium` and `playwright`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent

WRITING_AT_JS = """(at) => {
  const rows = Array.from(document.querySelectorAll('#job-stages .stage-running'));
  const row = rows.find((li) => /writ/i.test(li.querySelector('.stage-name').textContent));
  const bar = row && row.querySelector('[role="progressbar"]');
  return !!bar && Number(bar.getAttribute('aria-valuenow')) >= at;
}"""
FINISHED_JS = """() => document.querySelector('#job-result .prose') !== null"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default="demo")
    parser.add_argument("--password", required=True)
    parser.add_argument("--topic", default="Growing herbs on a kitchen windowsill")
    parser.add_argument("--words", type=int, default=600)
    parser.add_argument("--at", type=int, default=45, help="writing percentage to take the picture at")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "job-page.png")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for each step")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium not found on PATH (apt-get install -y chromium)")
    timeout_ms = args.timeout * 1000
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page.set_default_timeout(timeout_ms)
        page.goto(f"{args.url}/accounts/login/")
        page.fill("input[name=username]", args.user)
        page.fill("input[name=password]", args.password)
        page.click("form button[type=submit], form input[type=submit]")
        page.wait_for_url(re.compile(r"^(?!.*/accounts/login/).*$"))
        page.goto(f"{args.url}/")
        page.fill("#f-topic", args.topic)
        page.fill("#f-words", str(args.words))
        page.click("#job-form-card button[type=submit]")
        page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{24}/$"))
        page.wait_for_function(WRITING_AT_JS, arg=args.at, timeout=timeout_ms)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=False)
        print(f"saved {args.out} ({page.url})")
        page.wait_for_function(FINISHED_JS, timeout=timeout_ms)
        article = page.inner_text("#job-result .prose")
        print("\nthe article as written (first 900 characters):\n")
        print(article[:900])
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
