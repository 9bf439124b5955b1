"""REST API: one class per action, validate, call the service, serialize."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from contentgen.errors import ApplicationError, RateLimited
from jobs import limits, selectors, services
from jobs.bulk import bulk_snapshot
from jobs.models import BulkJob, GenerationJob
from jobs.validation import BulkInputSerializer, JobInputSerializer, parse_batch, parse_job


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        body: dict[str, Any] = {"detail": exc.message, **exc.extra}
        response = Response(body, status=exc.status)
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, ParseError):
        return Response(
            {"detail": f"Malformed request body: {exc.detail}"}, status=status.HTTP_400_BAD_REQUEST
        )
    return drf_exception_handler(exc, context)


class ProgressOutput(serializers.Serializer):
    percentage = serializers.FloatField()
    stage = serializers.CharField()
    stage_progress = serializers.FloatField()
    message = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    estimated_completion = serializers.DateTimeField(allow_null=True)
    estimated_start = serializers.DateTimeField(allow_null=True)
    estimated_completion_low = serializers.DateTimeField(allow_null=True)
    estimated_completion_high = serializers.DateTimeField(allow_null=True)
    elapsed_seconds = serializers.FloatField()


class ResultOutput(serializers.Serializer):
    content = serializers.CharField()
    meta_title = serializers.CharField()
    meta_description = serializers.CharField()
    word_count = serializers.IntegerField()
    seo_score = serializers.IntegerField()
    readability_score = serializers.FloatField()


class ErrorOutput(serializers.Serializer):
    message = serializers.CharField()
    stage = serializers.CharField()
    timestamp = serializers.DateTimeField()


class JobOutput(serializers.Serializer):
    id = serializers.CharField(source="pk")
    userId = serializers.CharField(source="user_id")
    bulk_job_id = serializers.CharField(allow_null=True)
    mode = serializers.CharField()
    topic = serializers.CharField()
    keywords = serializers.ListField(child=serializers.CharField())
    source_text = serializers.CharField()
    word_count = serializers.IntegerField()
    tone = serializers.CharField()
    status = serializers.CharField()
    progress = ProgressOutput()
    result = ResultOutput(allow_null=True)
    error = ErrorOutput(allow_null=True)
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class JobSummaryOutput(serializers.Serializer):
    id = serializers.CharField(source="pk")
    mode = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    stage = serializers.CharField(source="progress.stage")
    percentage = serializers.FloatField(source="progress.percentage")
    message = serializers.CharField(source="progress.message")
    error = ErrorOutput(allow_null=True)


class JobsPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def _job_or_404(request: Request, job_id: str) -> GenerationJob:
    job = selectors.job_for_user(user=request.user, job_id=job_id)
    if job is None:
        raise Http404
    return job


class JobListCreateApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=GenerationJob.Status.values),
            OpenApiParameter("bulk_job", str, description="A batch id"),
        ],
        responses=JobOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        status_filter = request.query_params.get("status") or None
        if status_filter and status_filter not in GenerationJob.Status.values:
            raise ValidationError(
                {"status": [f"status must be one of {', '.join(GenerationJob.Status.values)}."]}
            )
        bulk_param = request.query_params.get("bulk_job") or None
        bulk_id = selectors.parse_id(bulk_param) if bulk_param else None
        if bulk_param and bulk_id is None:
            raise ValidationError({"bulk_job": ["bulk_job must be a batch id."]})
        qs = selectors.jobs_for_user(user=request.user, status=status_filter, bulk_job=bulk_id)
        paginator = JobsPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(JobOutput(page, many=True).data)

    @extend_schema(request=JobInputSerializer, responses={201: JobOutput})
    def post(self, request: Request) -> Response:
        spec, errors = parse_job(request.data)
        if spec is None:
            raise ValidationError(errors)
        limits.charge_jobs(user=request.user)
        job = services.job_create(user=request.user, spec=spec)
        return Response(JobOutput(job).data, status=status.HTTP_201_CREATED)


class JobCancelApi(APIView):
    @extend_schema(request=None, responses={202: JobOutput})
    def post(self, request: Request, job_id: str) -> Response:
        job = services.job_cancel(job=_job_or_404(request, job_id))
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class JobRetryApi(APIView):
    @extend_schema(request=None, responses={202: JobOutput})
    def post(self, request: Request, job_id: str) -> Response:
        job = _job_or_404(request, job_id)
        limits.charge_jobs(user=request.user)
        job = services.job_retry(job=job)
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class JobDetailApi(APIView):
    @extend_schema(responses=JobOutput)
    def get(self, request: Request, job_id: str) -> Response:
        return Response(JobOutput(_job_or_404(request, job_id)).data)


BulkOutput = inline_serializer(
    "BulkOutput",
    {
        "id": serializers.CharField(),
        "total": serializers.IntegerField(),
        "counts": serializers.DictField(child=serializers.IntegerField()),
        "finished": serializers.IntegerField(),
        "percentage": serializers.FloatField(),
        "estimated_completion": serializers.DateTimeField(allow_null=True),
        "current": serializers.ListField(child=serializers.DictField()),
        "created_at": serializers.DateTimeField(),
        "jobs": JobSummaryOutput(many=True),
    },
)


def bulk_body(bulk: BulkJob) -> dict[str, Any]:
    snapshot = bulk_snapshot(bulk)
    return {
        "id": str(bulk.pk),
        "total": bulk.total,
        "counts": snapshot["counts"],
        "finished": snapshot["finished"],
        "percentage": 100.0 if bulk.finished >= bulk.total else snapshot["percentage"],
        "estimated_completion": snapshot["estimated_completion"],
        "current": snapshot["current"],
        "created_at": bulk.created_at,
        "jobs": JobSummaryOutput(selectors.bulk_jobs(bulk=bulk), many=True).data,
    }


class BulkCreateApi(APIView):
    @extend_schema(request=BulkInputSerializer, responses={201: BulkOutput})
    def post(self, request: Request) -> Response:
        specs, errors = parse_batch(request.data)
        if errors:
            raise ValidationError(errors)
        limits.charge_batch_items(user=request.user, count=len(specs))
        bulk = services.bulk_create(user=request.user, specs=specs)
        return Response(bulk_body(bulk), status=status.HTTP_201_CREATED)


class BulkDetailApi(APIView):
    @extend_schema(responses=BulkOutput)
    def get(self, request: Request, bulk_id: str) -> Response:
        bulk = selectors.bulk_for_user(user=request.user, bulk_id=bulk_id)
        if bulk is None:
            raise Http404
        return Response(bulk_body(bulk))
