"""`/analytics/` (charts drawn on the server) and `/api/analytics/` (the same figures as JSON)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api.responses import with_errors
from jobs.core import usage
from jobs.models import GenerationJob
from jobs.reports import analytics, charts


class AnalyticsFilterSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=GenerationJob.Mode.values, required=False, allow_blank=True)
    days = serializers.ChoiceField(choices=analytics.PERIODS, required=False, default=30)


def _figures(user: Any, data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    filters = AnalyticsFilterSerializer(data={k: v for k, v in data.items() if k in ("mode", "days") and v})
    if not filters.is_valid():
        return {}, dict(filters.errors)
    mode = filters.validated_data.get("mode") or None
    return analytics.compute(user=user, mode=mode, days=int(filters.validated_data["days"])), {}


def _charts(entry: dict[str, Any]) -> dict[str, Any]:
    labels = [day["day"] for day in entry["days"]]
    durations = {
        f"{stage} {which}": [day["stages"][stage][which] for day in entry["days"]]
        for stage in entry["stages"]
        for which in ("median", "p90")
    }
    return {
        **entry,
        "duration_chart": charts.line_chart(f"{entry['mode']}: stage seconds per day", labels, durations),
        "throughput_chart": charts.bar_chart(
            f"{entry['mode']}: articles per day",
            labels,
            {
                "completed": [d["completed"] for d in entry["days"]],
                "failed": [d["failed"] for d in entry["days"]],
            },
        ),
    }


def _usage_chart(spent: dict[str, Any]) -> Any:
    days = spent["by_day"]
    labels = [row["day"] for row in days]
    series = {"prompt tokens": [row["prompt_tokens"] for row in days],
              "completion tokens": [row["completion_tokens"] for row in days]}  # fmt: skip
    return charts.bar_chart("Tokens per day this month", labels, series) if days else None


@login_required
def analytics_page(request: HttpRequest) -> HttpResponse:
    figures, errors = _figures(request.user, request.GET)
    spent = usage.summary(user=None if getattr(request.user, "is_staff", False) else request.user)
    context = {
        "figures": figures,
        "usage": spent,
        "usage_chart": _usage_chart(spent),
        "modes": [_charts(entry) for entry in figures.get("modes", [])],
        "errors": errors,
        "mode_choices": GenerationJob.Mode.choices,
        "periods": analytics.PERIODS,
        "values": {"mode": request.GET.get("mode", ""), "days": request.GET.get("days", "30")},
    }
    return render(request, "jobs/analytics.html", context, status=400 if errors else 200)


class AnalyticsApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "mode", str, enum=[*GenerationJob.Mode.values, ""], description="Blank or absent: every mode."
            ),
            OpenApiParameter("days", int, enum=list(analytics.PERIODS)),
        ],
        responses=with_errors({200: dict}, 400),
    )
    def get(self, request: Request) -> Response:
        figures, errors = _figures(request.user, request.query_params)
        if errors:
            raise serializers.ValidationError(errors)
        return Response(figures)


class UsageApi(APIView):
    """`GET /api/usage/`: this month's tokens and cost, by model and by day (CONTENTGEN_LLM_PRICES), with the
    monthly budget (CONTENTGEN_MONTHLY_TOKEN_BUDGET; null when there is none)."""

    class OutputSerializer(serializers.Serializer):
        class Row(serializers.Serializer):
            prompt_tokens = serializers.IntegerField()
            completion_tokens = serializers.IntegerField()
            cost = serializers.FloatField(allow_null=True)

        class ModelRow(Row):
            model = serializers.CharField()

        class DayRow(Row):
            day = serializers.DateField()

        month = serializers.CharField()
        scope = serializers.ChoiceField(choices=["user", "all"])
        prompt_tokens = serializers.IntegerField()
        completion_tokens = serializers.IntegerField()
        tokens = serializers.IntegerField()
        cost = serializers.FloatField(allow_null=True)
        budget = serializers.IntegerField(allow_null=True)
        resets_on = serializers.DateField()
        by_model = ModelRow(many=True)
        by_day = DayRow(many=True)

    @extend_schema(responses=with_errors({200: OutputSerializer}), operation_id="usage_retrieve")
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(usage.summary(user=request.user)).data)
