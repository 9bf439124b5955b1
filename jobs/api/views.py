"""REST API, one class per URL: validate with its InputSerializer (or FilterSerializer), call a service or
selector, answer with its OutputSerializer. The OutputSerializer builds the whole body, so the OpenAPI
schema (drf-spectacular) is the response. Shared shapes (a job, its progress, a batch) are in
jobs.api.serializers.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api.responses import with_errors
from jobs.api.schema import PLAIN_TEXT
from jobs.api.serializers import (
    BulkOutputSerializer,
    JobOutputSerializer,
    SeoVerdictOutputSerializer,
    bulk_resource,
)
from jobs.core import limits, selectors, services
from jobs.core.filters import FREE_TEXT_FILTERS, ORDERINGS, HistoryFilterSerializer, history_jobs
from jobs.core.validation import BulkInputSerializer, JobInputSerializer, StrictCharField, unknown_fields
from jobs.models import BulkJob, GenerationJob
from jobs.pipeline.seo import analyze

# A date or a date-time, or blank (only spaces too): not given.
MOMENT = {
    "anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": r"^\s*$"},
    ]
}


def _found(obj: Any) -> Any:
    """Another user's object answers exactly like a missing one."""
    if obj is None:
        raise Http404
    return obj


def _job_or_404(request: Request, job_id: str) -> GenerationJob:
    return _found(selectors.job_for_user(user=request.user, job_id=job_id))


class JobListCreateApi(APIView):
    """`/api/jobs/`: GET lists the user's jobs, a page at a time, with the history page's filters; POST
    creates one."""

    class Pagination(PageNumberPagination):
        page_size = 20
        page_size_query_param = "page_size"
        max_page_size = 100

    class PageSerializer(serializers.Serializer):
        page = serializers.IntegerField(required=False, min_value=1, help_text="Past the last page: 404.")
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)

    class FilterSerializer(HistoryFilterSerializer, PageSerializer):
        """The history page's filters (status, mode, tone, created_after, created_before, q, ordering),
        a batch and the page. A blank free-text filter means "not given" (the schema allows any string
        there); a blank choice, batch or page is refused, as the schema's enums and patterns say."""

        bulk_job = serializers.CharField(required=False)

        def to_internal_value(self, data: Any) -> Any:
            data = {k: v for k, v in data.items() if not (k in FREE_TEXT_FILTERS and not v.strip())}
            blank = {
                name: [f"{name} may not be blank; leave it out to match everything."]
                for name, value in data.items()
                if name in self.fields and value == ""
            }
            if blank:
                raise serializers.ValidationError(blank)
            return super().to_internal_value(data)

        def validate_bulk_job(self, value: str) -> Any:
            bulk_id = selectors.parse_id(value)
            if bulk_id is None:
                raise serializers.ValidationError("bulk_job must be a batch id.")
            return bulk_id

    @extend_schema_serializer(component_name="JobPage")
    class PageOutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = JobOutputSerializer(many=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=GenerationJob.Status.values),
            OpenApiParameter("bulk_job", str, description="A batch id", pattern="^[0-9a-fA-F]{24}$"),
            OpenApiParameter("mode", str, enum=GenerationJob.Mode.values),
            OpenApiParameter("tone", str, enum=GenerationJob.Tone.values),
            OpenApiParameter("created_after", MOMENT, description="ISO date or date-time (inclusive)"),
            OpenApiParameter(
                "created_before", MOMENT, description="ISO date (inclusive) or date-time (exclusive)"
            ),
            OpenApiParameter(
                "q",
                {"type": "string", "maxLength": 200, "pattern": PLAIN_TEXT},
                description="Search in topic and keywords",
            ),
            OpenApiParameter("ordering", str, enum=list(ORDERINGS)),
            PageSerializer,
        ],
        responses=with_errors({200: PageOutputSerializer}, 400, 404),
        operation_id="jobs_list",
    )
    def get(self, request: Request) -> Response:
        # A plain dict: DRF reads a blank value in a QueryDict as "not given", so `?status=` would pass.
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        jobs = history_jobs(
            user=request.user, filters=filters.validated_data, bulk_job=filters.validated_data.get("bulk_job")
        )
        paginator = self.Pagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        assert paginator.page is not None
        body = {
            "count": paginator.page.paginator.count,
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "results": page,
        }
        return Response(self.PageOutputSerializer(body).data)

    InputSerializer = extend_schema_serializer(component_name="JobInput")(JobInputSerializer)
    OutputSerializer = JobOutputSerializer

    @extend_schema(request=InputSerializer, responses=with_errors({201: OutputSerializer}, 400, 413, 429))
    def post(self, request: Request) -> Response:
        job = services.job_submit(user=request.user, data=request.data)
        return Response(self.OutputSerializer(job).data, status=status.HTTP_201_CREATED)


class JobDetailApi(APIView):
    OutputSerializer = JobOutputSerializer

    @extend_schema(responses=with_errors({200: OutputSerializer}, 404))
    def get(self, request: Request, job_id: str) -> Response:
        return Response(self.OutputSerializer(_job_or_404(request, job_id)).data)


class JobCancelApi(APIView):
    OutputSerializer = JobOutputSerializer

    @extend_schema(request=None, responses=with_errors({202: OutputSerializer}, 404, 409))
    def post(self, request: Request, job_id: str) -> Response:
        job = services.job_cancel(job=_job_or_404(request, job_id))
        return Response(self.OutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class JobRetryApi(APIView):
    OutputSerializer = JobOutputSerializer

    @extend_schema(request=None, responses=with_errors({202: OutputSerializer}, 404, 409, 429))
    def post(self, request: Request, job_id: str) -> Response:
        job = _job_or_404(request, job_id)
        if job.status in services.RETRYABLE:  # a refused retry (409) costs nothing
            limits.charge_jobs(user=request.user)
        job = services.job_retry(job=job)
        return Response(self.OutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class BulkCreateApi(APIView):
    InputSerializer = extend_schema_serializer(component_name="BulkInput")(BulkInputSerializer)
    OutputSerializer = BulkOutputSerializer

    @extend_schema(request=InputSerializer, responses=with_errors({201: OutputSerializer}, 400, 413, 429))
    def post(self, request: Request) -> Response:
        bulk = services.bulk_submit(user=request.user, data=request.data)
        return Response(bulk_resource(bulk), status=status.HTTP_201_CREATED)


class BulkDetailApi(APIView):
    OutputSerializer = BulkOutputSerializer

    @extend_schema(responses=with_errors({200: OutputSerializer}, 404))
    def get(self, request: Request, bulk_id: str) -> Response:
        return Response(bulk_resource(_bulk_or_404(request, bulk_id)))


def _bulk_or_404(request: Request, bulk_id: str) -> BulkJob:
    return _found(selectors.bulk_for_user(user=request.user, bulk_id=bulk_id))


class BulkCancelApi(APIView):
    @extend_schema(request=None, responses=with_errors({202: BulkOutputSerializer}, 404, 409))
    def post(self, request: Request, bulk_id: str) -> Response:
        outcome = services.bulk_cancel(bulk=_bulk_or_404(request, bulk_id))
        return Response(bulk_resource(outcome.bulk), status=status.HTTP_202_ACCEPTED)


class BulkRetryFailedApi(APIView):
    @extend_schema(request=None, responses=with_errors({202: BulkOutputSerializer}, 404, 409, 429))
    def post(self, request: Request, bulk_id: str) -> Response:
        outcome = services.bulk_retry_failed(bulk=_bulk_or_404(request, bulk_id))
        return Response(bulk_resource(outcome.bulk), status=status.HTTP_202_ACCEPTED)


MAX_ANALYZED_CHARACTERS = 100_000
MAX_META_CHARACTERS = 1_000
MAX_KEYPHRASE_CHARACTERS = 200
MAX_SYNONYMS = 10


class _Text(StrictCharField):
    """Any string (blank, or with surrounding spaces, as drafts have them) up to ``max_length`` characters,
    with a message that gives the length found."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_blank=True, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if self.max_length is not None and len(value) > self.max_length:
            raise serializers.ValidationError(
                f"{self.field_name} has {len(value):,} characters; the analyzer takes at most "
                f"{self.max_length:,}."
            )
        return value


class SeoAnalyzeApi(APIView):
    """`POST /api/seo/analyze/`: the SEO report of any draft, as the SEO stage makes it; no job is made."""

    @extend_schema_serializer(component_name="SeoAnalyzeInput")
    class InputSerializer(serializers.Serializer):
        content = _Text(
            multiline=True, max_length=MAX_ANALYZED_CHARACTERS, help_text="The article in Markdown."
        )
        meta_title = _Text(max_length=MAX_META_CHARACTERS)
        meta_description = _Text(max_length=MAX_META_CHARACTERS)
        keyphrase = _Text(max_length=MAX_KEYPHRASE_CHARACTERS, help_text="The focus keyphrase.")
        synonyms = serializers.ListField(
            child=_Text(max_length=MAX_KEYPHRASE_CHARACTERS),
            required=False,
            max_length=MAX_SYNONYMS,
            help_text="Other words for the keyphrase, which count where Yoast counts synonyms.",
            error_messages={
                "max_length": f"synonyms holds at most {MAX_SYNONYMS} entries.",
                "not_a_list": "synonyms must be a list of strings.",
            },
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            unknown = unknown_fields(self.initial_data, tuple(self.fields))
            if unknown:
                raise serializers.ValidationError(unknown)
            return attrs

    @extend_schema_serializer(component_name="SeoReport")
    class OutputSerializer(serializers.Serializer):
        seo_score = serializers.IntegerField(help_text="0-100, weighted from the `seo` checks.")
        readability_score = serializers.FloatField(help_text="0-100, weighted from the `readability` checks.")
        checks = SeoVerdictOutputSerializer(many=True, help_text="Every check that applies, in report order.")

    @extend_schema(
        request=InputSerializer,
        responses=with_errors({200: OutputSerializer}, 400, 413, 429),
        description=(
            "Scores a draft for SEO and readability with the checks a job's SEO stage uses (thresholds as "
            "Yoast SEO and Rank Math document them), without creating a job. Counts against the jobs' rate "
            "(`CONTENTGEN_RATE_JOBS_PER_MINUTE`, apart from jobs)."
        ),
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        limits.charge_analyses(user=request.user)
        report = analyze(**serializer.validated_data)
        body = {
            "seo_score": report.seo_score,
            "readability_score": report.readability_score,
            "checks": report.as_dicts(),
        }
        return Response(self.OutputSerializer(body).data)
