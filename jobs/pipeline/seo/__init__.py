"""SEO and readability analysis of a Markdown article: a pure function, Django-free, linear in its input.

``analyze`` scores the article against Yoast's and Rank Math's documented thresholds (see ``checks``);
``fixes`` turns a failing verdict into an instruction for a model or a deterministic rewrite.
"""

from __future__ import annotations

from .checks import LABELS
from .fixes import FIX_ORDER, OFFLINE_FIXABLE, apply_offline_fix, instruction
from .report import STATUS_LABELS, WEIGHTS, Report, analyze, report_groups, report_summary
from .verdict import Verdict

__all__ = [
    "FIX_ORDER",
    "LABELS",
    "OFFLINE_FIXABLE",
    "STATUS_LABELS",
    "WEIGHTS",
    "Report",
    "Verdict",
    "analyze",
    "apply_offline_fix",
    "instruction",
    "report_groups",
    "report_summary",
]
