"""Finding past work: the filters shared by `/history/` and `GET /api/jobs/`, validated once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import serializers

from jobs.core.selectors import NewestFirst, jobs_for_user, newest_bulks
from jobs.core.validation import NoControlCharacters
from jobs.models import BulkJob, GenerationJob

ORDERINGS = {
    "-created_at": ("-created_at",),
    "created_at": ("created_at",),
    "-duration": ("-progress__elapsed_seconds", "-created_at"),
    "duration": ("progress__elapsed_seconds", "-created_at"),
}
FILTER_FIELDS = ("status", "mode", "tone", "created_after", "created_before", "q", "ordering")
# Any string is one of these to a client (no enum): blank, or only spaces, means "not given".
FREE_TEXT_FILTERS = ("created_after", "created_before", "q")


def _choice(value: str, choices: list[str], name: str) -> str | None:
    if value and value not in choices:
        raise serializers.ValidationError(f"{name} must be one of {', '.join(choices)}.")
    return value or None


def _parse_moment(raw: str, *, end_of_day: bool) -> dt.datetime | None:
    try:
        day = parse_date(raw) if len(raw) == 10 else None
        if day is not None:
            start = dt.datetime.combine(day, dt.time(), dt.UTC)
            # The end of 9999-12-31 is past the last moment a datetime holds: clamped below.
            return start + dt.timedelta(days=1) if end_of_day else start
        return parse_datetime(raw.replace(" ", "+", 1) if raw.count(" ") == 1 and "T" in raw else raw)
    except OverflowError:
        return dt.datetime.max.replace(tzinfo=dt.UTC)
    except ValueError:  # well formed but no such day or time (2026-02-30)
        return None


def _moment(value: str, name: str, *, end_of_day: bool) -> dt.datetime | None:
    """An ISO date (a whole day: from its start, or up to its end) or an ISO date-time; naive means UTC.
    Answered in UTC, clamped to the range a datetime holds (0001-01-01T00:00+05:00 is before it)."""
    raw = value.strip()
    if not raw:
        return None
    moment = _parse_moment(raw, end_of_day=end_of_day)
    if moment is None:
        raise serializers.ValidationError(
            f"{name} must be a date (2026-11-29) or a date and time (2026-11-29T10:00:00Z)."
        )
    if timezone.is_naive(moment):
        return timezone.make_aware(moment, dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        edge = dt.datetime.min if moment.year == 1 else dt.datetime.max
        return edge.replace(tzinfo=dt.UTC)


class HistoryFilterSerializer(serializers.Serializer):
    status = serializers.CharField(required=False, allow_blank=True)
    mode = serializers.CharField(required=False, allow_blank=True)
    tone = serializers.CharField(required=False, allow_blank=True)
    created_after = serializers.CharField(required=False, allow_blank=True)
    created_before = serializers.CharField(required=False, allow_blank=True)
    q = serializers.CharField(
        required=False, allow_blank=True, max_length=200, validators=[NoControlCharacters()]
    )
    ordering = serializers.CharField(required=False, allow_blank=True)

    def validate_status(self, value: str) -> str | None:
        return _choice(value, GenerationJob.Status.values, "status")

    def validate_mode(self, value: str) -> str | None:
        return _choice(value, GenerationJob.Mode.values, "mode")

    def validate_tone(self, value: str) -> str | None:
        return _choice(value, GenerationJob.Tone.values, "tone")

    def validate_created_after(self, value: str) -> dt.datetime | None:
        return _moment(value, "created_after", end_of_day=False)

    def validate_created_before(self, value: str) -> dt.datetime | None:
        return _moment(value, "created_before", end_of_day=True)

    def validate_q(self, value: str) -> str | None:
        return value.strip() or None

    def validate_ordering(self, value: str) -> str:
        return _choice(value, list(ORDERINGS), "ordering") or "-created_at"


def parse_filters(data: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(valid filters, errors per field): a page keeps the valid ones and shows the rest, an empty date
    range among them (the API answers that with an empty page: no schema can say "after created_after")."""
    serializer = HistoryFilterSerializer(data={k: data.get(k, "") for k in FILTER_FIELDS})
    errors: dict[str, list[str]] = {}
    if serializer.is_valid():
        filters = dict(serializer.validated_data)
    else:
        errors = {name: [str(m) for m in messages] for name, messages in serializer.errors.items()}
        kept = {k: v for k, v in data.items() if k in FILTER_FIELDS and k not in errors}
        retry = HistoryFilterSerializer(data=kept)
        filters = dict(retry.validated_data) if retry.is_valid() else {}
    after, before = filters.get("created_after"), filters.get("created_before")
    if after and before and after >= before:
        errors["created_before"] = ["created_before must be after created_after."]
        del filters["created_before"]
    return filters, errors


def _created(qs: QuerySet[Any], filters: dict[str, Any]) -> QuerySet[Any]:
    if filters.get("created_after"):
        qs = qs.filter(created_at__gte=filters["created_after"])
    if filters.get("created_before"):
        qs = qs.filter(created_at__lt=filters["created_before"])
    return qs


def filter_jobs(qs: QuerySet[GenerationJob], filters: dict[str, Any]) -> QuerySet[GenerationJob]:
    for name in ("status", "mode", "tone"):
        if filters.get(name):
            qs = qs.filter(**{name: filters[name]})
    qs = _created(qs, filters)
    if filters.get("q"):
        term = filters["q"]
        # Topic: any part, any case. Keywords: a whole keyword (ArrayField `contains`; the backend has no
        # substring lookup inside arrays), tried as typed and in lower case.
        qs = qs.filter(
            Q(topic__icontains=term) | Q(keywords__contains=[term]) | Q(keywords__contains=[term.lower()])
        )
    return qs.order_by(*ORDERINGS[filters.get("ordering") or "-created_at"])


def history_jobs(
    *, user: Any, filters: dict[str, Any], bulk_job: Any = None
) -> QuerySet[GenerationJob] | NewestFirst[GenerationJob]:
    """A user's jobs (of one batch, if given) that pass `filters`, in their order, for a paginator.
    Newest first, the default, pages are read by window (jobs.core.selectors.newest); a search (`q`) or
    another order reads through the ORM."""
    if filters.get("q") or (filters.get("ordering") or "-created_at") != "-created_at":
        return filter_jobs(jobs_for_user(user=user, bulk_job=bulk_job), filters)
    # The fields are stored under their names. A batch's members are read by the batch's index, each one's
    # owner checked; else the user's jobs by theirs.
    also = {name: filters[name] for name in ("status", "mode", "tone") if filters.get(name)}
    if bulk_job:
        where, also = {"bulk_job_id": bulk_job}, {**also, "userId": user.pk}
    else:
        where = {"userId": user.pk}
    moments = {"after": filters.get("created_after"), "before": filters.get("created_before")}
    return NewestFirst(GenerationJob, where, also=also, **moments)


def history_batches(*, user: Any, filters: dict[str, Any], count: int) -> list[BulkJob]:
    return newest_bulks(
        user=user, count=count, after=filters.get("created_after"), before=filters.get("created_before")
    )
