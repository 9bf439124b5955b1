"""Stored documents. Field names are a contract (docs/contracts.md, "Stored documents")."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_mongodb_backend.fields import ArrayField, EmbeddedModelField
from django_mongodb_backend.models import EmbeddedModel

from jobs.pipeline import stages


class Stage(models.TextChoices):
    QUEUED = stages.QUEUED, stages.LABELS[stages.QUEUED]
    RESEARCH = stages.RESEARCH, stages.LABELS[stages.RESEARCH]
    WRITING = stages.WRITING, stages.LABELS[stages.WRITING]
    SEO = stages.SEO, stages.LABELS[stages.SEO]
    COMPLETED = stages.COMPLETED, stages.LABELS[stages.COMPLETED]


class Progress(EmbeddedModel):
    percentage = models.FloatField(default=0)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.QUEUED)
    stage_progress = models.FloatField(default=0)
    message = models.CharField(max_length=300, default="Queued for generation")
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    estimated_completion = models.DateTimeField(null=True, blank=True)
    estimated_start = models.DateTimeField(null=True, blank=True)
    estimated_completion_low = models.DateTimeField(null=True, blank=True)
    estimated_completion_high = models.DateTimeField(null=True, blank=True)
    elapsed_seconds = models.FloatField(default=0)


class Result(EmbeddedModel):
    content = models.TextField()
    meta_title = models.CharField(max_length=60)
    meta_description = models.CharField(max_length=160)
    word_count = models.IntegerField()
    seo_score = models.IntegerField()
    readability_score = models.FloatField()
    # [{"n", "title", "url" or None, "source_id" or None}]: what the article's [n] citations point to.
    sources = models.JSONField(default=list, blank=True)
    # [{"id", "group", "status", "score", "message"}]: the analyzer's verdicts the two scores come from.
    seo_report = models.JSONField(default=list, blank=True)
    # The model gave no usable meta title and description: both were derived from the article.
    meta_derived = models.BooleanField(default=False)
    # {"model", "prompt_tokens", "completion_tokens", "cost", "stages": {stage: {...}}} (jobs.core.usage).
    usage = models.JSONField(default=dict, blank=True)


class JobError(EmbeddedModel):
    message = models.TextField()
    stage = models.CharField(max_length=16)
    timestamp = models.DateTimeField(default=timezone.now)


class BulkJob(models.Model):
    user_id: Any
    # No index of its own: bulk_user_created (user, -created_at) serves every lookup by user (see below).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        db_column="userId",
        related_name="bulk_jobs",
        db_index=False,
    )
    total = models.PositiveIntegerField()
    # Flat counters so that F() increments move them atomically; exposed as `counts` by the API.
    count_queued = models.IntegerField(default=0)
    count_processing = models.IntegerField(default=0)
    count_completed = models.IntegerField(default=0)
    count_failed = models.IntegerField(default=0)
    count_cancelled = models.IntegerField(default=0)
    # Members that ended AND whose batch event is out: raised after each such event is published, so the
    # mover that brings it to `total` publishes `complete` after every member's event, never before one.
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The owner asked for an email when the batch finishes (the batch form; jobs.web.emails sends it).
    notify_email = models.BooleanField(default=False)

    class Meta:
        db_table = "bulk_jobs"
        ordering = ("-created_at",)
        indexes: ClassVar = [models.Index(fields=["user", "-created_at"], name="bulk_user_created")]

    def __str__(self) -> str:
        return f"Batch {self.pk} ({self.total} articles)"

    @property
    def counts(self) -> dict[str, int]:
        return {status: getattr(self, f"count_{status}") for status in GenerationJob.Status.values}

    @property
    def finished(self) -> int:
        return self.count_completed + self.count_failed + self.count_cancelled


class GenerationJob(models.Model):
    class Mode(models.TextChoices):
        TOPIC = "topic", "Topic"
        KEYWORDS = "keywords", "Keywords"
        TRENDS = "trends", "Trends"
        SPIN = "spin", "Spin (rewrite)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Tone(models.TextChoices):
        PROFESSIONAL = "professional", "Professional"
        CASUAL = "casual", "Casual"
        FRIENDLY = "friendly", "Friendly"
        AUTHORITATIVE = "authoritative", "Authoritative"
        CONVERSATIONAL = "conversational", "Conversational"
        TECHNICAL = "technical", "Technical"
        PERSUASIVE = "persuasive", "Persuasive"
        HUMOROUS = "humorous", "Humorous"

    user_id: Any
    bulk_job_id: Any

    TERMINAL: ClassVar[frozenset[str]] = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})

    # The foreign keys have no single-field indexes: job_user_created and job_bulk start with them and
    # serve the same lookups. Every write maintains every index, so an index that no query needs is a cost
    # on every job move.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        db_column="userId",
        related_name="generation_jobs",
        db_index=False,
    )
    bulk_job = models.ForeignKey(
        BulkJob,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_column="bulk_job_id",
        related_name="jobs",
        db_index=False,
    )
    mode = models.CharField(max_length=16, choices=Mode.choices)
    topic = models.CharField(max_length=300, blank=True, default="")
    keywords = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    source_text = models.TextField(blank=True, default="")
    word_count = models.PositiveIntegerField(default=1000)
    tone = models.CharField(max_length=32, choices=Tone.choices, default=Tone.PROFESSIONAL)
    # Research: the user's knowledge base, a web search, and pages named for this article alone.
    use_knowledge_base = models.BooleanField(default=False)
    use_web = models.BooleanField(default=False)
    source_urls = ArrayField(models.URLField(max_length=2000), default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = EmbeddedModelField(Progress, default=Progress)
    result = EmbeddedModelField(Result, null=True, blank=True)
    error = EmbeddedModelField(JobError, null=True, blank=True)

    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - null means unclaimed
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # Output of each finished stage, so that a takeover resumes after the last completed stage.
    stage_outputs = models.JSONField(default=dict, blank=True)
    # {stage: {"started_at": iso, "completed_at": iso, "seconds": float}}: the ETA's history.
    stage_timings = models.JSONField(default=dict, blank=True)
    # Tokens spent by every attempt so far, as result.usage has them (jobs.core.usage).
    usage = models.JSONField(default=dict, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "generation_jobs"
        ordering = ("-created_at",)
        indexes: ClassVar = [
            models.Index(fields=["status", "created_at"], name="job_queue"),
            # The claim's window reads (jobs.core.claiming): equality on status, a range on queued_at.
            models.Index(fields=["status", "queued_at"], name="job_claim"),
            models.Index(fields=["user", "-created_at"], name="job_user_created"),
            models.Index(fields=["bulk_job", "created_at"], name="job_bulk"),
            models.Index(fields=["mode", "status", "-updated_at"], name="job_history"),
        ]

    def __str__(self) -> str:
        return f"{self.get_mode_display()}: {self.title}"

    @property
    def title(self) -> str:
        if self.topic:
            return self.topic
        if self.keywords:
            return ", ".join(self.keywords)
        return (self.source_text[:60] + "…") if len(self.source_text) > 60 else self.source_text

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL


class WebhookEvent(models.TextChoices):
    JOB_COMPLETED = "job.completed", "Job completed"
    JOB_FAILED = "job.failed", "Job failed"
    JOB_CANCELLED = "job.cancelled", "Job cancelled"
    BULK_COMPLETED = "bulk.completed", "Batch completed"


# Sent by `POST /api/webhooks/<id>/test/` only; nobody subscribes to it.
TEST_EVENT = "webhook.test"


class WebhookEndpoint(models.Model):
    user_id: Any

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    events = ArrayField(models.CharField(max_length=32, choices=WebhookEvent.choices))
    secret = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "webhook_endpoints"
        ordering = ("-created_at",)
        indexes: ClassVar = [models.Index(fields=["user", "active"], name="webhook_user_active")]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    endpoint_id: Any

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=32)
    # The exact bytes sent, fixed when the event happened: every attempt signs and sends the same body.
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    # [{"at", "status_code", "duration_ms", "error", "next_attempt_at"}], oldest first.
    attempts = models.JSONField(default=list, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Retries stop 24 h after this: the event's time, or the time of a manual redelivery.
    retry_from = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - null means unclaimed
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_deliveries"
        ordering = ("-created_at",)
        indexes: ClassVar = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id} ({self.status})"


class Source(models.Model):
    """A document in a user's knowledge base: what they added, and how its ingestion went."""

    class Kind(models.TextChoices):
        FILE = "file", "File"
        URL = "url", "Web page"
        TEXT = "text", "Pasted text"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    user_id: Any

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_column="userId", related_name="sources",
        db_index=False,
    )  # fmt: skip
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    passages = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    url = models.URLField(max_length=2000, blank=True, default="")
    filename = models.CharField(max_length=255, blank=True, default="")
    content_type = models.CharField(max_length=100, blank=True, default="")
    size_bytes = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - null means unclaimed
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "kb_sources"
        ordering = ("-created_at",)
        indexes: ClassVar = [
            models.Index(fields=["user", "-created_at"], name="kb_source_user_created"),
            models.Index(fields=["status", "created_at"], name="kb_source_queue"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_terminal(self) -> bool:
        return self.status in (self.Status.READY, self.Status.FAILED)


class SourceBlob(models.Model):
    """A source's raw bytes until a worker has read them, in pieces under MongoDB's document limit."""

    source_id: Any

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="blobs", db_index=False)
    number = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        db_table = "kb_blobs"
        indexes: ClassVar = [models.Index(fields=["source", "number"], name="kb_blob_source")]

    def __str__(self) -> str:
        return f"{self.source_id}#{self.number}"


class Passage(models.Model):
    """A passage of a source: the unit of retrieval and of citation. `ordinal` is its number in the user's
    index, never reused; `terms` its analysed term counts, so an index rebuild reads no text."""

    user_id: Any
    source_id: Any

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_column="userId", related_name="+",
        db_index=False,
    )  # fmt: skip
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+", db_index=False)
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    heading = models.CharField(max_length=200, blank=True, default="")
    page = models.PositiveIntegerField(null=True, blank=True)
    words = models.PositiveIntegerField(default=0)
    terms = models.JSONField(default=dict)

    class Meta:
        db_table = "kb_passages"
        indexes: ClassVar = [
            models.Index(fields=["user", "ordinal"], name="kb_passage_user_ordinal"),
            models.Index(fields=["source", "ordinal"], name="kb_passage_source"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.ordinal}"


class KnowledgeIndex(models.Model):
    """The state of a user's BM25 index: the generation readers use, its statistics, and the rebuild's
    bookkeeping (a rebuild is due while `dirty`; one builder at a time holds `building_until`)."""

    user_id: Any

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_column="userId", related_name="+"
    )
    generation = models.PositiveIntegerField(default=0)
    documents = models.PositiveIntegerField(default=0)
    average_length = models.FloatField(default=0)
    buckets = models.PositiveIntegerField(default=0)
    next_ordinal = models.PositiveIntegerField(default=0)
    dirty = models.BooleanField(default=False)
    building_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "kb_index"
        indexes: ClassVar = [models.Index(fields=["dirty"], name="kb_index_dirty")]

    def __str__(self) -> str:
        return f"{self.user_id} gen {self.generation}"


class PostingBucket(models.Model):
    """One hashed bucket of a generation of a user's index: packed postings (jobs.pipeline.bm25)."""

    user_id: Any

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_column="userId", related_name="+",
        db_index=False,
    )  # fmt: skip
    generation = models.PositiveIntegerField()
    number = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        db_table = "kb_postings"
        indexes: ClassVar = [
            models.Index(fields=["user", "generation", "number"], name="kb_posting_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} gen {self.generation} #{self.number}"


class UsageRecord(models.Model):
    """The tokens one attempt at one job spent: the rows `GET /api/usage/` and /analytics/ add up."""

    user_id: Any
    job_id: Any

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_column="userId", related_name="+",
        db_index=False,
    )  # fmt: skip
    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="+", db_index=False)
    model = models.CharField(max_length=200)
    day = models.DateField()
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "usage_records"
        indexes: ClassVar = [models.Index(fields=["user", "day"], name="usage_user_day")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day} {self.model}"

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class UsageMonth(models.Model):
    """A user's tokens this month, one counter moved by increments: what the monthly budget is held to."""

    user_id: Any

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_column="userId", related_name="+",
        db_index=False,
    )  # fmt: skip
    month = models.CharField(max_length=7)  # "2026-12"
    tokens = models.PositiveBigIntegerField(default=0)
    cost = models.FloatField(default=0)

    class Meta:
        db_table = "usage_months"
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["user", "month"], name="usage_month_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.month}: {self.tokens}"
