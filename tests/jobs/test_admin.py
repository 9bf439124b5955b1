from __future__ import annotations

import pytest

from jobs.models import GenerationJob, JobError
from tests.factories import a_result

pytestmark = pytest.mark.django_db


@pytest.fixture
def jobs(api):
    ids = [
        api.post(
            "/api/jobs/", {"mode": "topic", "topic": f"Garden {i}", "keywords": ["soil"]}, format="json"
        ).json()["id"]
        for i in range(2)
    ]
    api.post("/api/bulk-jobs/", {"items": [{"mode": "spin", "source_text": "Rewrite me."}]}, format="json")
    done = GenerationJob.objects.get(pk=ids[0])
    done.status = "completed"
    done.result = a_result(word_count=2, seo_score=50)
    done.save()
    failed = GenerationJob.objects.get(pk=ids[1])
    failed.status = "failed"
    failed.error = JobError(message="boom", stage="writing")
    failed.save()
    return ids


@pytest.mark.parametrize(
    ("url", "present", "absent"),
    [
        ("/admin/", ["Generation jobs", "Bulk jobs", "Progress events"], []),
        ("/admin/jobs/generationjob/", ["3 generation jobs", "Garden 0", "Garden 1", "Rewrite me"], []),
        ("/admin/jobs/generationjob/?status__exact=failed", ["1 generation job", "Garden 1"], ["Garden 0"]),
        ("/admin/jobs/generationjob/?mode__exact=topic&stage=queued", ["2 generation jobs"], ["Rewrite me"]),
        ("/admin/jobs/generationjob/?q=soil", ["2 generation jobs", "Garden 0", "Garden 1"], []),
        ("/admin/jobs/generationjob/?q=Garden", ["2 generation jobs"], []),
        ("/admin/jobs/generationjob/?o=5", ["3 generation jobs"], []),
        ("/admin/jobs/bulkjob/", ["1 bulk job", "(1 articles)"], []),
        ("/admin/progress/progressevent/", ["{job0}", "{job1}"], []),
        ("/admin/authtoken/tokenproxy/", ["{username}"], []),
        ("/admin/authtoken/tokenproxy/?q=writer", ["{username}"], []),
    ],
)
def test_admin_pages_show_what_staff_look_for(staff_client, jobs, user, url, present, absent):
    response = staff_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    values = {"job0": jobs[0], "job1": jobs[1], "username": user.username}
    for text in present:
        assert text.format(**values) in html, text
    for text in absent:
        assert text.format(**values) not in html, text


def test_admin_detail_shows_progress_result_and_error(staff_client, jobs):
    done = staff_client.get(f"/admin/jobs/generationjob/{jobs[0]}/change/")
    assert done.status_code == 200
    assert b"Meta title" in done.content and b"SEO score" in done.content
    failed = staff_client.get(f"/admin/jobs/generationjob/{jobs[1]}/change/")
    assert b"boom" in failed.content and b"writing" in failed.content


def test_admin_redirects_non_staff(client, user):
    client.force_login(user)
    response = client.get("/admin/jobs/generationjob/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
