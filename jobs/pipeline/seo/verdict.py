"""One check's outcome, scored 0-9 per check as Yoast scores each assessment.

Yoast's bands are kept: 8-9 is good (green), 5-7 ok (orange), 0-4 a problem (red). Yoast's negative scores
(-10 and -50 for keyphrase stuffing, -20 for a very short text) become 0 here, the bottom of the scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["good", "ok", "problem"]
Group = Literal["seo", "readability"]

GOOD = 9
OK = 6
PROBLEM = 3
MAX_SCORE = 9


def status_of(score: int) -> Status:
    if score >= 8:
        return "good"
    if score >= 5:
        return "ok"
    return "problem"


@dataclass(frozen=True, slots=True)
class Finding:
    """What a check function returns: the runner adds the check's id and group."""

    score: int
    message: str


@dataclass(frozen=True, slots=True)
class Verdict:
    id: str
    group: Group
    status: Status
    score: int
    message: str

    def as_dict(self) -> dict[str, str | int]:
        return {
            "id": self.id,
            "group": self.group,
            "status": self.status,
            "score": self.score,
            "message": self.message,
        }


def plural(count: int, singular: str, many: str | None = None) -> str:
    return f"{count} {singular if count == 1 else many or singular + 's'}"


def percent(share: float) -> str:
    return f"{100 * share:.0f}%"
