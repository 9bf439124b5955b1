"""The measures, one module each: `NAME` (what `bench/run --only` takes) and `run(stack, cfg, report)`, which
measures contentgen beside its baseline and appends its section (and its plots' data) to the report."""

from __future__ import annotations

from collections.abc import Callable

from bench.common import Stack
from bench.config import Config
from bench.measures import (
    capacity,
    choices,
    many_jobs,
    many_viewers,
    opening,
    queue_depth,
    scale_out,
    throughput,
)
from bench.report import Report

Measure = Callable[[Stack, Config, Report], None]

# In the report's order: a full run runs them in this order, one process each.
MEASURES: dict[str, Measure] = {
    module.NAME: module.run
    for module in (many_viewers, many_jobs, opening, capacity, throughput, queue_depth, choices, scale_out)
}
