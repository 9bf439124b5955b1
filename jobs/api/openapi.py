"""What drf-spectacular cannot see in the API: the SSE streams (plain async views, not DRF), the event
payloads as named schemas, and the WebSocket and webhook contracts in the description.

Wired as a POSTPROCESSING_HOOK, so the schema at /api/schema/ and the docs at /api/docs/ carry it.
"""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/"

DESCRIPTION = """\
SEO article jobs and batches, their live progress, and signed webhooks.

Authenticate with a session cookie or `Authorization: Token <key>` (`python manage.py drf_create_token USER`).
Another user's job, batch or webhook answers 404, exactly like a missing one.

## Live progress

* **Server-Sent Events**: `GET /api/jobs/{job_id}/progress` and `GET /api/bulk-jobs/{bulk_id}/progress`
  (documented below). Each event has an `id` (the job's or batch's sequence number 1, 2, 3 ... with no
  holes), an `event` (`progress` or `complete`) and JSON `data` (schemas `JobProgressEvent`,
  `JobCompleteEvent`, `BulkProgressEvent`, `BulkCompleteEvent`; each event as a whole: `JobStreamEvent`,
  `BulkStreamEvent`). Reconnect with the `Last-Event-ID` header or `?last_event_id=N` to get every event
  after N, then live: no gap, no duplicate; resumed at or after the final event, the answer is 204. A stream
  ends after `complete`, or when its credentials stop working (logout, a deleted token).
* **WebSocket**: `ws://HOST/ws/jobs/{job_id}/` (and `?last_event_id=N`; authenticate with the session,
  `Authorization: Token <key>`, or the subprotocols `token, <key>`). It sends the same `data` objects with
  `type` and `seq` added, and closes after `complete`. An unauthenticated client, another user's or a
  missing job, or a bad `last_event_id` is refused at the handshake (HTTP 403); over the stream cap the
  socket closes with code 4429; when its credentials stop working, with 4401 (4403: no longer allowed).
  Example message:

```json
{"type": "progress", "seq": 7, "job_id": "6650c0ffee0000000000abcd", "status": "processing",
 "progress": {"percentage": 41.2, "stage": "writing", "stage_progress": 24.8, "message": "Writing the draft",
              "started_at": "2026-11-29T10:00:00.123000+00:00", "elapsed_seconds": 12.4, "...": "..."},
 "stages": {"research": {"state": "done", "percentage": 100.0, "seconds": 6.1},
            "writing": {"state": "running", "percentage": 24.8, "seconds": null},
            "seo": {"state": "pending", "percentage": 0.0, "seconds": null}},
 "bulk_job_id": null, "attempts": 1, "timestamp": "2026-11-29T10:00:12.523456+00:00"}
```

## SEO report

A completed job's `result.seo_report` lists every check that applies to its article (`id`, `group`: `seo` or
`readability`, `status`: `good`, `ok` or `problem`, `score` 0-9, `message`: what to do), and `seo_score` and
`readability_score` are weighted from them. `POST /api/seo/analyze/` scores any draft the same way without
creating a job. `result.meta_derived` is true when the model gave no usable meta title and description and
both were derived from the article.

## Webhooks

Register with `POST /api/webhooks/` (`url`, `events`: `job.completed`, `job.failed`, `job.cancelled`,
`bulk.completed`; `secret` optional: one is generated and returned once). The workers POST each event as
JSON (schema `WebhookPayload`): `data` is the job (`GET /api/jobs/{id}/`) or batch
(`GET /api/bulk-jobs/{id}/`) exactly as the API returns it. Every request carries
`X-Contentgen-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed by the secret>`;
reject a body whose signature does not match or whose `t` is old (replays). Non-2xx answers, timeouts
(one deadline of 5 s per attempt, from connecting to the answer's last byte; redirects are not followed) and
connection errors are retried with exponential backoff (base `CONTENTGEN_WEBHOOK_BACKOFF_SECONDS`,
doubling, with jitter) for 24 hours; then the delivery fails and the endpoint is disabled with a reason.
A user has at most 20 endpoints (`CONTENTGEN_WEBHOOK_MAX_ENDPOINTS`) and may queue 100 test sends and
redeliveries a minute (`CONTENTGEN_RATE_WEBHOOK_SENDS_PER_MINUTE`; over it: 429 with `Retry-After`).
Attempts are listed at `GET /api/webhooks/{id}/deliveries/`. Example delivery:

```http
POST /hooks/contentgen HTTP/1.1
Content-Type: application/json
X-Contentgen-Event: job.completed
X-Contentgen-Delivery: 6650c0ffee0000000000beef
X-Contentgen-Signature: t=1795953612,v1=5d1c0a4b8e1f...

{"id": "6650c0ffee0000000000beef", "type": "job.completed", "created": "2026-11-29T10:00:12.523Z",
 "data": {"id": "6650c0ffee0000000000abcd", "status": "completed", "result": {"...": "..."}, "...": "..."}}
```
"""

_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}

_STAGES = {
    "type": "object",
    "description": "Each stage of the job's mode (research, writing, seo; spin has no research).",
    "additionalProperties": {
        "type": "object",
        "properties": {
            "state": {"type": "string", "enum": ["pending", "running", "done", "failed"]},
            "percentage": {"type": "number"},
            "seconds": {"type": "number", "nullable": True},
        },
    },
}

_JOB_STATE = {
    "job_id": {"type": "string"},
    "status": {"type": "string", "enum": ["queued", "processing", "completed", "failed", "cancelled"]},
    "progress": {"$ref": REF + "ProgressOutput"},
    "stages": _STAGES,
    "bulk_job_id": {"type": "string", "nullable": True},
}

_BULK_STATE = {
    "bulk_job_id": {"type": "string"},
    "total": {"type": "integer"},
    "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
    "finished": {"type": "integer"},
    "percentage": {"type": "number"},
    "estimated_completion": _NULLABLE_TIME,
    "current": {"type": "array", "items": {"$ref": REF + "BulkCurrentOutput"}},
    "job": {"type": "object", "nullable": True, "description": "The member whose change caused the event."},
    "timestamp": _TIME,
}

_SOURCE_STATE = {
    "source_id": {"type": "string"},
    "title": {"type": "string"},
    "kind": {"type": "string", "enum": ["file", "url", "text"]},
    "status": {"type": "string", "enum": ["queued", "processing", "ready", "failed"]},
    "passages": {"type": "integer"},
    "error": {"type": "string", "nullable": True},
    "progress": {
        "type": "object",
        "properties": {
            "stage": {"type": "string", "description": "queued, reading, fetching, extracting, splitting, "
                      "indexing, then ready or failed"},
            "percentage": {"type": "number"},
            "message": {"type": "string"},
        },
    },
    "timestamp": _TIME,
}  # fmt: skip

SCHEMAS: dict[str, Any] = {
    "JobProgressEvent": {
        "type": "object",
        "description": "`event: progress` on a job stream (at most about 5 per second).",
        "properties": {**_JOB_STATE, "attempts": {"type": "integer"}, "timestamp": _TIME},
        "required": ["job_id", "status", "progress", "timestamp"],
    },
    "JobCompleteEvent": {
        "type": "object",
        "description": "`event: complete`, the last event of a job stream (completed, failed or cancelled).",
        "properties": {
            **_JOB_STATE,
            "result": {"allOf": [{"$ref": REF + "ResultOutput"}], "nullable": True},
            "error": {"allOf": [{"$ref": REF + "ErrorOutput"}], "nullable": True},
            "timestamp": _TIME,
        },
        "required": ["job_id", "status", "result", "error"],
    },
    "BulkProgressEvent": {
        "type": "object",
        "description": "`event: progress` on a batch stream.",
        "properties": _BULK_STATE,
        "required": ["bulk_job_id", "total", "counts", "percentage"],
    },
    "BulkCompleteEvent": {
        "type": "object",
        "description": "`event: complete`, sent once every job in the batch has ended.",
        "properties": _BULK_STATE,
        "required": ["bulk_job_id", "total", "counts", "percentage"],
    },
    "SourceProgressEvent": {
        "type": "object",
        "description": "`event: progress` on a knowledge-base source's stream: a step of its ingestion.",
        "properties": _SOURCE_STATE,
        "required": ["source_id", "status", "progress", "timestamp"],
    },
    "SourceCompleteEvent": {
        "type": "object",
        "description": "`event: complete`, the last event of a source's stream (ready or failed).",
        "properties": _SOURCE_STATE,
        "required": ["source_id", "status", "progress", "timestamp"],
    },
    "WebhookPayload": {
        "type": "object",
        "description": "The body of a webhook delivery; see the description for the signature header.",
        "properties": {
            "id": {"type": "string", "description": "The delivery's id (the same on a redelivery)."},
            "type": {
                "type": "string",
                "enum": ["job.completed", "job.failed", "job.cancelled", "bulk.completed", "webhook.test"],
            },
            "created": _TIME,
            "data": {"oneOf": [{"$ref": REF + "JobOutput"}, {"$ref": REF + "BulkOutput"}]},
        },
        "required": ["id", "type", "created", "data"],
    },
}

def _envelope(description: str, events: dict[str, str]) -> dict[str, Any]:
    """One event of a stream as a client that follows the event-stream grammar reads it (OpenAPI 3.2's
    `itemSchema` for `text/event-stream`): `event`, `id`, and `data`, JSON text whose own schema is named."""
    return {
        "description": description,
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "event": {"type": "string", "enum": [name]},
                    "id": {"type": "string", "pattern": "^[0-9]{1,18}$", "description": "The event's seq."},
                    "retry": {"type": "integer"},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"$ref": REF + data},
                    },
                },
                "required": ["event", "id", "data"],
            }
            for name, data in events.items()
        ],
    }


SCHEMAS["JobStreamEvent"] = _envelope(
    "An event of `GET /api/jobs/{job_id}/progress`.",
    {"progress": "JobProgressEvent", "complete": "JobCompleteEvent"},
)
SCHEMAS["BulkStreamEvent"] = _envelope(
    "An event of `GET /api/bulk-jobs/{bulk_id}/progress`.",
    {"progress": "BulkProgressEvent", "complete": "BulkCompleteEvent"},
)
SCHEMAS["SourceStreamEvent"] = _envelope(
    "An event of `GET /api/sources/{source_id}/progress`.",
    {"progress": "SourceProgressEvent", "complete": "SourceCompleteEvent"},
)

_SSE_FRAMING = (
    "A `text/event-stream`: `retry: 3000`, then events of the form `id: <seq>` / "
    "`event: progress|complete` / `data: <JSON>`, and a `: ping` comment at least every 15 s while idle. "
    "Without `Last-Event-ID` the "
    "stream starts with the current state (id = latest seq); with it, every event after it, then live. "
    "The stream ends after `complete`."
)


_NOUNS = {"jobs": "job", "bulk-jobs": "batch", "sources": "knowledge-base source"}


def _stream(*, kind: str, id_name: str, envelope: str, example: str) -> dict[str, Any]:
    return {
        "get": {
            "operationId": f"{kind}_progress_stream",
            "summary": f"Live progress of a {_NOUNS[kind]} (Server-Sent Events)",
            "description": _SSE_FRAMING,
            "tags": [kind],
            "security": [{"cookieAuth": []}, {"tokenAuth": []}],
            "parameters": [
                {"name": id_name, "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "description": "Resume after this event id (sent by EventSource on reconnect).",
                    "schema": {"type": "integer", "minimum": 0},
                },
                {
                    "name": "last_event_id",
                    "in": "query",
                    "required": False,
                    "description": "The same, for clients that cannot set headers (the header wins).",
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
            "responses": {
                "200": {
                    "description": "The event stream: each event is `event`, `id` and `data`, the JSON text "
                    "of the schema its `event` names.",
                    "content": {
                        "text/event-stream": {"schema": {"$ref": REF + envelope}, "example": example}
                    },
                },
                "204": {
                    "description": "Resumed at or after the final event: nothing more will come, and "
                    "EventSource does not reconnect."
                },
                "400": {"description": "`Last-Event-ID` is not a non-negative whole number."},
                "401": {"description": "No session and no valid token."},
                "404": {"description": f"No such {_NOUNS[kind]}, or another user's."},
                "429": {
                    "description": "Over a stream cap (`CONTENTGEN_MAX_STREAMS_PER_USER`).",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                },
            },
        }
    }


_JOB_EXAMPLE = (
    "retry: 3000\n\n"
    'id: 7\nevent: progress\ndata: {"job_id": "6650c0ffee0000000000abcd", "status": "processing", '
    '"progress": {"percentage": 41.2, "stage": "writing", "...": "..."}, "timestamp": '
    '"2026-11-29T10:00:00.123456+00:00"}\n\n'
    'id: 12\nevent: complete\ndata: {"job_id": "6650c0ffee0000000000abcd", "status": "completed", '
    '"result": {"...": "..."}, "error": null}\n\n'
)
_BULK_EXAMPLE = (
    "retry: 3000\n\n"
    'id: 3\nevent: progress\ndata: {"bulk_job_id": "6650c0ffee0000000000b0b0", "total": 3, '
    '"counts": {"queued": 1, "processing": 1, "completed": 1, "failed": 0, "cancelled": 0}, '
    '"percentage": 52.4, "current": [{"job_id": "...", "stage": "writing", "percentage": 57.1}], '
    '"timestamp": "2026-11-29T10:00:00.123456+00:00"}\n\n'
)

_SOURCE_EXAMPLE = (
    "retry: 3000\n\n"
    'id: 4\nevent: progress\ndata: {"source_id": "6650c0ffee0000000000c0de", "status": "processing", '
    '"progress": {"stage": "indexing", "percentage": 61.0, "message": "Indexing passage 301 of 540"}, '
    '"...": "..."}\n\n'
    'id: 6\nevent: complete\ndata: {"source_id": "6650c0ffee0000000000c0de", "status": "ready", '
    '"passages": 540, "...": "..."}\n\n'
)

STREAM_PATHS: dict[str, dict[str, Any]] = {
    "/api/jobs/{job_id}/progress": _stream(
        kind="jobs", id_name="job_id", envelope="JobStreamEvent", example=_JOB_EXAMPLE
    ),
    "/api/bulk-jobs/{bulk_id}/progress": _stream(
        kind="bulk-jobs", id_name="bulk_id", envelope="BulkStreamEvent", example=_BULK_EXAMPLE
    ),
    "/api/sources/{source_id}/progress": _stream(
        kind="sources", id_name="source_id", envelope="SourceStreamEvent", example=_SOURCE_EXAMPLE
    ),
}


def add_streams(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("info", {})["description"] = DESCRIPTION
    result.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
    paths = result.setdefault("paths", {})
    paths.update(STREAM_PATHS)
    result["paths"] = dict(sorted(paths.items()))
    return result
