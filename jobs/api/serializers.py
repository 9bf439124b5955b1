"""The API's shared output shapes: a job and its parts, a job's summary, a batch. The actions nest them
(jobs.api.views), and a webhook's payload is the same resource (jobs.webhooks.receivers)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from jobs.core import selectors
from jobs.core.batches import bulk_snapshot
from jobs.models import BulkJob


class ProgressOutputSerializer(serializers.Serializer):
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


class SourceRefOutputSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="The number the article's citations [n] use.")
    title = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    source_id = serializers.CharField(allow_null=True, help_text="The knowledge-base source, when it is one.")


class StageUsageOutputSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField(required=False)
    completion_tokens = serializers.IntegerField(required=False)
    cost = serializers.FloatField(allow_null=True, required=False)
    estimated = serializers.BooleanField(
        required=False, help_text="Counted from the stream: the server reported no usage."
    )


class UsageOutputSerializer(serializers.Serializer):
    """Tokens a job spent over its attempts, and their cost (null for a model without a price)."""

    model = serializers.CharField(required=False)
    prompt_tokens = serializers.IntegerField(required=False)
    completion_tokens = serializers.IntegerField(required=False)
    cost = serializers.FloatField(allow_null=True, required=False)
    stages = serializers.DictField(child=StageUsageOutputSerializer(), required=False)


class ResultOutputSerializer(serializers.Serializer):
    content = serializers.CharField()
    meta_title = serializers.CharField()
    meta_description = serializers.CharField()
    word_count = serializers.IntegerField()
    seo_score = serializers.IntegerField()
    readability_score = serializers.FloatField()
    sources = SourceRefOutputSerializer(many=True)
    usage = UsageOutputSerializer()


class ErrorOutputSerializer(serializers.Serializer):
    message = serializers.CharField()
    stage = serializers.CharField()
    timestamp = serializers.DateTimeField()


class JobOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="pk")
    userId = serializers.CharField(source="user_id")
    bulk_job_id = serializers.CharField(allow_null=True)
    mode = serializers.CharField()
    topic = serializers.CharField()
    keywords = serializers.ListField(child=serializers.CharField())
    source_text = serializers.CharField()
    word_count = serializers.IntegerField()
    tone = serializers.CharField()
    use_knowledge_base = serializers.BooleanField()
    use_web = serializers.BooleanField()
    source_urls = serializers.ListField(child=serializers.CharField())
    status = serializers.CharField()
    progress = ProgressOutputSerializer()
    result = ResultOutputSerializer(allow_null=True)
    error = ErrorOutputSerializer(allow_null=True)
    attempts = serializers.IntegerField()
    usage = UsageOutputSerializer(help_text="Tokens spent so far, over every attempt.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class JobSummaryOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="pk")
    mode = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    stage = serializers.CharField(source="progress.stage")
    percentage = serializers.FloatField(source="progress.percentage")
    message = serializers.CharField(source="progress.message")
    error = ErrorOutputSerializer(allow_null=True)


class BulkCurrentOutputSerializer(serializers.Serializer):
    job_id = serializers.CharField()
    stage = serializers.CharField()
    percentage = serializers.FloatField()


class BulkOutputSerializer(serializers.Serializer):
    """A batch: built from `jobs.core.batches.bulk_snapshot` plus the batch and its members."""

    id = serializers.CharField(source="bulk.pk")
    total = serializers.IntegerField(source="bulk.total")
    counts = serializers.DictField(child=serializers.IntegerField())
    finished = serializers.IntegerField()
    percentage = serializers.FloatField()
    estimated_completion = serializers.DateTimeField(allow_null=True)
    current = BulkCurrentOutputSerializer(many=True)
    created_at = serializers.DateTimeField(source="bulk.created_at")
    jobs = JobSummaryOutputSerializer(many=True)


def bulk_resource(bulk: BulkJob) -> dict[str, Any]:
    """A batch as `GET /api/bulk-jobs/<id>/` answers it."""
    snapshot = bulk_snapshot(bulk)
    if bulk.finished >= bulk.total:
        snapshot["percentage"] = 100.0
    instance = {**snapshot, "bulk": bulk, "jobs": selectors.bulk_jobs(bulk=bulk)}
    return dict(BulkOutputSerializer(instance).data)
