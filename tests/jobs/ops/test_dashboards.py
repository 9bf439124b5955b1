from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from jobs.ops.metrics import JobsByStatus

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[3] / "docs" / "ops"
SUFFIXES = re.compile(r"_(total|bucket|count|sum|created)$")


def exported() -> set[str]:
    names = {family.name for family in REGISTRY.collect()}
    return names | {family.name for family in JobsByStatus().collect()}


def used(text: str) -> set[str]:
    return {SUFFIXES.sub("", name) for name in re.findall(r"\bcontentgen_[a-z_]+", text)}


def test_the_dashboard_only_uses_exported_metrics():
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel["targets"])
    assert used(exprs) and used(exprs) <= exported()


def test_alert_rules_parse_and_cover_stuck_queue_failures_and_no_workers():
    rules = yaml.safe_load((DOCS / "alerts.yml").read_text())["groups"][0]["rules"]
    names = {rule["alert"] for rule in rules}
    assert {"ContentgenQueueStuck", "ContentgenFailureRateRising", "ContentgenNoLiveWorkers"} <= names
    assert all(rule["expr"] and rule["annotations"]["summary"] for rule in rules)
    assert used(" ".join(rule["expr"] for rule in rules)) <= exported()
