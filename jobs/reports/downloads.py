"""Downloads, from the pages (session) and the API (session or token): the same owner rules as
everything else, so another user's article or batch is a 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from contentgen.streaming import iterate_in_threads
from jobs.api.responses import with_errors
from jobs.core import selectors
from jobs.models import GenerationJob
from jobs.reports import exports

# The exported HTML is sanitised; served as an attachment under a CSP that runs nothing, all the same.
EXPORT_CSP = "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; sandbox"


def _attachment(response: HttpResponseBase, name: str) -> HttpResponseBase:
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _article(user: object, job_id: str, extension: str) -> HttpResponseBase:
    job = selectors.job_for_user(user=user, job_id=job_id)
    if job is None:
        raise Http404("No such article.")
    if job.status != GenerationJob.Status.COMPLETED or job.result is None:
        return JsonResponse(
            {"detail": f"This article is {job.status}; only a completed article can be exported."}, status=409
        )
    if extension == "md":
        response = HttpResponse(exports.article_markdown(job), content_type="text/markdown; charset=utf-8")
    else:
        response = HttpResponse(exports.article_html(job), content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = EXPORT_CSP
    return _attachment(response, exports.filename(job, extension))


def _batch(user: object, bulk_id: str) -> HttpResponseBase:
    bulk = selectors.bulk_for_user(user=user, bulk_id=bulk_id)
    if bulk is None:
        raise Http404("No such batch.")
    response = StreamingHttpResponse(
        iterate_in_threads(exports.batch_zip(bulk)), content_type="application/zip"
    )
    return _attachment(response, exports.zip_filename(bulk))


@login_required
def article_markdown(request: HttpRequest, job_id: str) -> HttpResponseBase:
    return _article(request.user, job_id, "md")


@login_required
def article_html(request: HttpRequest, job_id: str) -> HttpResponseBase:
    return _article(request.user, job_id, "html")


@login_required
def batch_zip(request: HttpRequest, bulk_id: str) -> HttpResponseBase:
    return _batch(request.user, bulk_id)


FILE = OpenApiResponse(description="The file, as an attachment")


class ArticleMarkdownApi(APIView):
    @extend_schema(responses=with_errors({200: FILE}, 404, 409))
    def get(self, request: Request, job_id: str) -> HttpResponseBase:
        return _article(request.user, job_id, "md")


class ArticleHtmlApi(APIView):
    @extend_schema(responses=with_errors({200: FILE}, 404, 409))
    def get(self, request: Request, job_id: str) -> HttpResponseBase:
        return _article(request.user, job_id, "html")


class BatchZipApi(APIView):
    @extend_schema(responses=with_errors({200: FILE}, 404))
    def get(self, request: Request, bulk_id: str) -> HttpResponseBase:
        return _batch(request.user, bulk_id)
