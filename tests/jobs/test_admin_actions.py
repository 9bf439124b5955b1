"""The admin changelists' actions, posted like the admin's own form."""

from __future__ import annotations

import pytest
from bson import ObjectId
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from jobs.models import BulkJob, GenerationJob

pytestmark = pytest.mark.django_db

ITEM = {"mode": "topic", "topic": "Hedgehog houses", "word_count": 300}
JOBS_URL = "/admin/jobs/generationjob/"
BATCHES_URL = "/admin/jobs/bulkjob/"


def post_action(client, url: str, action: str, ids: list) -> list[str]:
    response = client.post(url, {"action": action, "_selected_action": [str(i) for i in ids]}, follow=True)
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def new_job(api, status: str = "queued") -> ObjectId:
    pk = ObjectId(api.post("/api/jobs/", ITEM, format="json").json()["id"])
    GenerationJob.objects.filter(pk=pk).update(status=status)
    return pk


def status_of(pk: ObjectId) -> str:
    return GenerationJob.objects.get(pk=pk).status


def test_cancel_action_cancels_queued_jobs_and_says_why_others_were_skipped(staff_client, api):
    queued, done, running = new_job(api), new_job(api, "completed"), new_job(api, "processing")
    (message,) = post_action(staff_client, JOBS_URL, "cancel_selected", [queued, done, running])
    assert message == "Cancelled 1 job, asked 1 running article to stop. Skipped 1: 1 already completed."
    assert status_of(queued) == "cancelled" and status_of(done) == "completed"
    assert GenerationJob.objects.get(pk=running).cancel_requested


def test_retry_action_requeues_failed_and_cancelled_jobs_only(staff_client, api):
    failed, cancelled, queued = new_job(api, "failed"), new_job(api, "cancelled"), new_job(api)
    (message,) = post_action(staff_client, JOBS_URL, "retry_selected", [failed, cancelled, queued])
    assert message == (
        "Queued again 2 jobs. Skipped 1: 1 queued (only failed or cancelled jobs are retried)."
    )
    assert {status_of(failed), status_of(cancelled), status_of(queued)} == {"queued"}


def test_batch_actions_cancel_then_retry_failed_members_with_exact_counts(staff_client, api):
    first = ObjectId(api.post("/api/bulk-jobs/", {"items": [ITEM, ITEM]}, format="json").json()["id"])
    second = ObjectId(api.post("/api/bulk-jobs/", {"items": [ITEM]}, format="json").json()["id"])
    assert post_action(staff_client, BATCHES_URL, "cancel_selected", [first]) == ["Cancelled 1 batch."]
    assert BulkJob.objects.get(pk=first).counts["cancelled"] == 2
    (message,) = post_action(staff_client, BATCHES_URL, "retry_failed_members", [first, second])
    assert message.startswith("Requeued the failed members of 1 batch. Skipped 1: 1 no article in batch")
    assert BulkJob.objects.get(pk=first).counts == {
        "queued": 2,
        "processing": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
    }
    (message,) = post_action(staff_client, BATCHES_URL, "cancel_selected", [first, second])
    assert message == "Cancelled 2 batches."


def test_staff_without_change_permission_get_no_actions(client, api):
    viewer = get_user_model().objects.create_user("viewer", password="pw-for-tests-only", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename="view_generationjob"))
    client.force_login(viewer)
    job = new_job(api)
    page = client.get(JOBS_URL)
    assert page.status_code == 200 and str(job) in page.content.decode()  # they see the job...
    assert "cancel_selected" not in page.content.decode()  # ...but are offered no action
    assert post_action(client, JOBS_URL, "cancel_selected", [job]) == []  # the list again, nothing done
    assert status_of(job) == "queued"
    # The same request from staff who may change jobs goes through: the permission is what refused it.
    viewer.user_permissions.add(*Permission.objects.filter(codename="change_generationjob"))
    assert post_action(client, JOBS_URL, "cancel_selected", [job]) == ["Cancelled 1 job."]
    assert status_of(job) == "cancelled"
