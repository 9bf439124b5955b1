"""The benchmark suite cannot rot: `bench/run --quick` end to end (tiny loads; its figures are not checked).
Run by `make bench-quick` (CI's own step), not with the test suite: its figures belong to bench/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ["1. Many viewers", "2. Many jobs", "3. Opening", "4. Capacity", "5. Throughput", "6. The queue",
            "7. Choices", "8. Scale-out"]  # fmt: skip
PLOTS = ["latency_cdf.png", "rss_vs_connections.png", "jobs_per_minute.png"]


@pytest.mark.bench
@pytest.mark.timeout(360)
def test_a_quick_benchmark_run_writes_every_section_and_plot(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "REDIS_URL")}
    result = subprocess.run(
        [str(ROOT / "bench" / "run"), "--quick", "--out", str(tmp_path)],
        env={**env, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=330,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    report = (tmp_path / "REPORT.md").read_text()
    assert [title for title in SECTIONS if f"## {title}" not in report] == []
    assert report.count("| measure |") == len(SECTIONS)  # one table per measure, baseline beside contentgen
    assert [plot for plot in PLOTS if (tmp_path / plot).stat().st_size < 1000] == []
