"""Every endpoint x {anonymous, another user, the owner, staff}: the status each gets.

Another user's object answers exactly like a missing one. Session POSTs need the CSRF token.
"""

from __future__ import annotations

import pytest
from bson import ObjectId
from django.test import Client

from jobs.core import services
from jobs.core.validation import parse_batch, parse_job
from jobs.models import GenerationJob, Result, WebhookEndpoint
from tests.factories import UserFactory, token_for

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "other", "owner", "staff")
SPEC = {"mode": "topic", "topic": "Access matrix", "word_count": 300}


@pytest.fixture
def world(user):
    job = services.job_create(user=user, spec=parse_job(SPEC)[0])
    job.status = GenerationJob.Status.COMPLETED
    job.result = Result(content="# Done\n\nText.", meta_title="Done", meta_description="d", word_count=2,
                        seo_score=50, readability_score=60.0)
    job.save()
    queued = services.job_create(user=user, spec=parse_job(SPEC)[0])
    bulk = services.bulk_create(user=user, specs=parse_batch({"items": [SPEC]})[0])
    staff = UserFactory(is_staff=True, is_superuser=True)
    clients = {"anonymous": Client()}
    for role, person in (("other", UserFactory()), ("owner", user), ("staff", staff)):
        clients[role] = Client()
        clients[role].force_login(person)
    hook = WebhookEndpoint.objects.create(user=user, url="http://127.0.0.1:9/hook", events=["job.failed"], secret="s" * 20)
    return {"job": job, "queued": queued, "bulk": bulk, "hook": hook, "clients": clients}


def _status(client: Client, method: str, path: str) -> int:
    response = getattr(client, method)(path)
    status = response.status_code
    response.close()
    return status


# (method, path template, expected per role: anonymous, other, owner, staff). {job} is completed, {queued}
# is queued, {bulk} a batch; all belong to the owner. Staff is a superuser, not the owner.
MATRIX = [
    ("get", "/api/jobs/", (403, 200, 200, 200)),
    ("get", "/api/jobs/{job}/", (403, 404, 200, 404)),
    ("post", "/api/jobs/{job}/retry/", (403, 404, 409, 404)),
    ("post", "/api/jobs/{queued}/cancel/", (403, 404, 202, 404)),
    ("get", "/api/jobs/{job}/progress", (401, 404, 200, 404)),
    ("get", "/api/bulk-jobs/{bulk}/", (403, 404, 200, 404)),
    ("get", "/api/bulk-jobs/{bulk}/progress", (401, 404, 200, 404)),
    ("get", "/jobs/{job}/live", (401, 404, 200, 404)),
    ("get", "/bulk/{bulk}/live", (401, 404, 200, 404)),
    ("get", "/live", (401, 200, 200, 200)),
    ("get", "/", (302, 200, 200, 200)),
    ("get", "/jobs/{job}/", (302, 404, 200, 404)),
    ("get", "/bulk/{bulk}/", (302, 404, 200, 404)),
    ("get", "/jobs/{job}/article.md", (302, 404, 200, 404)),
    ("get", "/admin/", (302, 302, 302, 200)),
    ("get", "/admin/jobs/generationjob/{job}/change/", (302, 302, 302, 200)),
    ("get", "/metrics", (401, 403, 403, 200)),
    ("get", "/healthz", (200, 200, 200, 200)),
    ("get", "/api/schema/", (200, 200, 200, 200)),
    ("get", "/api/docs/", (200, 200, 200, 200)),
    # The SEO analyzer: any signed-in user (a body that is not JSON is refused).
    ("post", "/api/seo/analyze/", (403, 415, 415, 415)),
    # Webhooks: the owner's own; another user's endpoint looks missing.
    ("get", "/api/webhooks/", (403, 200, 200, 200)),
    ("get", "/api/webhooks/{hook}/", (403, 404, 200, 404)),
    ("get", "/api/webhooks/{hook}/deliveries/", (403, 404, 200, 404)),
    ("post", "/api/webhooks/{hook}/test/", (403, 404, 202, 404)),
    ("get", "/settings/webhooks/", (302, 200, 200, 200)),
    # Exports: the owner's articles only.
    ("get", "/jobs/{job}/article.html", (302, 404, 200, 404)),
    ("get", "/bulk/{bulk}/articles.zip", (302, 404, 200, 404)),
    ("get", "/api/jobs/{job}/article.md", (403, 404, 200, 404)),
    ("get", "/api/bulk-jobs/{bulk}/articles.zip", (403, 404, 200, 404)),
    # History and analytics: each user's own figures.
    ("get", "/history/", (302, 200, 200, 200)),
    ("get", "/analytics/", (302, 200, 200, 200)),
    ("get", "/api/analytics/", (403, 200, 200, 200)),
    # Operations: staff only.
    ("get", "/ops/", (302, 302, 302, 200)),
    ("get", "/ops/live", (401, 403, 403, 200)),
]


def test_every_endpoint_answers_each_role_as_expected(world):
    ids = {"job": world["job"].pk, "queued": world["queued"].pk, "bulk": world["bulk"].pk, "hook": world["hook"].pk}
    got = {}
    for method, template, _ in MATRIX:
        path = template.format(**ids)
        got[(method, template)] = tuple(_status(world["clients"][role], method, path) for role in ROLES)
    assert got == {(method, template): expected for method, template, expected in MATRIX}


@pytest.mark.parametrize(
    "template",
    ["/api/jobs/{id}/", "/api/bulk-jobs/{id}/", "/api/jobs/{id}/progress", "/jobs/{id}/", "/bulk/{id}/",
     "/jobs/{id}/live", "/jobs/{id}/article.md", "/api/jobs/{id}/cancel/"],
)
def test_another_users_object_looks_exactly_like_a_missing_one(world, template):
    other = world["clients"]["other"]
    owned = world["bulk"].pk if "bulk" in template else world["job"].pk
    method = "post" if template.endswith("cancel/") else "get"
    foreign = getattr(other, method)(template.format(id=owned))
    missing = getattr(other, method)(template.format(id=ObjectId()))
    malformed = getattr(other, method)(template.format(id="not-an-id"))
    assert foreign.status_code == missing.status_code == malformed.status_code == 404
    assert foreign.content == missing.content == malformed.content
    assert foreign["Content-Type"] == missing["Content-Type"]


def test_session_posts_need_the_csrf_token_and_token_posts_do_not(world, user):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    queued = world["queued"].pk
    assert strict.post("/api/jobs/", SPEC, content_type="application/json").status_code == 403
    assert strict.post(f"/api/jobs/{queued}/cancel/").status_code == 403
    assert strict.post("/jobs/new", SPEC).status_code == 403
    assert strict.post("/bulk/new", {"topics": "a"}).status_code == 403
    assert strict.post("/accounts/logout/").status_code == 403
    assert GenerationJob.objects.filter(user=user).count() == 3  # the batch's job, the two above
    token = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    assert token.post("/api/jobs/", SPEC, content_type="application/json").status_code == 201
