"""The short chaos run (bench/chaos.py --short) as a test: its own servers, daphnes and workers. About 2 minutes,
so it runs in `make test-long` (CI), not `make test`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.stack import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.long]


@pytest.mark.timeout(300)
def test_a_short_chaos_run_loses_nothing_and_leaves_nothing_stuck():
    run = subprocess.run(
        [sys.executable, "bench/chaos.py", "--short"],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "all goals met" in run.stdout
    assert "| lost | 0 | 0 |" in run.stdout
