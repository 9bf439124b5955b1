"""`manage.py generate` and `manage.py jobs`: same validation as the API, exit codes against a real worker."""

from __future__ import annotations

import io
import select
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import call_command

from jobs.core import leases
from jobs.models import BulkJob, GenerationJob
from jobs.runtime.tracker import ProgressTracker
from progress import events
from tests.factories import JobFactory, a_result
from tests.stack import ROOT, burst_here, child_env, worker_here

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_generate_creates_a_job_and_prints_its_id_and_url(user):
    code, out, _ = run(
        "generate", "--user", user.username, "--topic", "Heat pumps", "--keywords", "cop, noise"
    )
    assert code == 0
    job = GenerationJob.objects.get(user=user)
    assert (job.topic, job.keywords, job.status) == ("Heat pumps", ["cop", "noise"], "queued")
    assert f"job {job.pk}" in out and f"/jobs/{job.pk}/" in out


def test_bad_input_exits_2_with_a_message_per_field_and_stores_nothing(user):
    code, _, err = run(
        "generate", "--user", user.username, "--topic", "", "--word-count", "50", "--tone", "grim"
    )
    assert code == 2
    assert "word_count:" in err and "tone:" in err
    assert "Traceback" not in err
    assert not GenerationJob.objects.exists()


def test_an_unknown_user_exits_2(db):
    code, _, err = run("generate", "--user", "nobody", "--topic", "x")
    assert code == 2 and "no user is called 'nobody'" in err


def test_generate_with_a_csv_creates_a_batch(user, tmp_path):
    sheet = tmp_path / "batch.csv"
    sheet.write_text("topic,word_count\nSolar roofs,300\nWind at home,400\n")
    code, out, _ = run("generate", "--user", user.username, "--csv", str(sheet), "--tone", "casual")
    assert code == 0
    bulk = BulkJob.objects.get(user=user)
    assert f"batch {bulk.pk}" in out and bulk.total == 2
    assert {job.tone for job in GenerationJob.objects.filter(bulk_job=bulk)} == {"casual"}


def test_a_bad_csv_row_is_named_and_nothing_is_stored(user, tmp_path):
    sheet = tmp_path / "batch.csv"
    sheet.write_text("topic,word_count\nSolar roofs,300\nWind at home,9\n")
    code, _, err = run("generate", "--user", user.username, "--csv", str(sheet))
    assert code == 2 and "Row 3: word_count:" in err
    assert not BulkJob.objects.exists() and not GenerationJob.objects.exists()


def test_a_header_only_csv_exits_2_saying_so_and_stores_nothing(user, tmp_path):
    sheet = tmp_path / "batch.csv"
    sheet.write_text("topic,word_count\n")
    code, _, err = run("generate", "--user", user.username, "--csv", str(sheet))
    assert code == 2 and "The CSV file has a header but no articles." in err
    assert not BulkJob.objects.exists() and not GenerationJob.objects.exists()


def test_jobs_ls_show_cancel_and_retry(user):
    run("generate", "--user", user.username, "--topic", "Rain barrels")
    job = GenerationJob.objects.get(user=user)
    code, out, _ = run("jobs", "ls", "--user", user.username)
    assert code == 0 and str(job.pk) in out
    code, out, _ = run("jobs", "show", str(job.pk))
    assert code == 0 and "status queued" in out
    assert run("jobs", "retry", str(job.pk))[0] == 1
    assert run("jobs", "cancel", str(job.pk))[:2] == (0, "cancelled\n")
    assert GenerationJob.objects.get(pk=job.pk).status == "cancelled"
    assert run("jobs", "retry", str(job.pk))[0] == 0
    assert GenerationJob.objects.get(pk=job.pk).status == "queued"
    code, _, err = run("jobs", "show", "0123456789abcdef01234567")
    assert code == 2 and "no job or batch" in err


def test_jobs_ls_and_show_print_no_control_characters_from_stored_text(user):
    # Stored before control characters were refused at the input: the operator's terminal is still safe.
    hostile = "Rain\x1b]0;pwned\x07 barrels\x1b[2J\r\x9bfake row"
    job = JobFactory(user=user, topic="Rain barrels")
    GenerationJob.objects.filter(pk=job.pk).update(topic=hostile)
    for args in (("jobs", "ls"), ("jobs", "show", str(job.pk))):
        code, out, _ = run(*args)
        assert code == 0 and "barrels" in out
        assert not [c for c in out if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F], out


def generate(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "generate", *args],
        cwd=ROOT,
        env=child_env(COLUMNS="120", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(proc: subprocess.Popen[str], text: str, *, timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = ""
    while text not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            raise AssertionError(f"no {text!r} within {timeout} s; got {seen!r}")
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the command ended before {text!r}: {seen!r}")
        seen += line
    return seen


def test_ctrl_c_while_following_exits_130_and_the_job_keeps_going(user):
    proc = generate("--user", user.username, "--topic", "Cold frames", "--follow")
    try:
        read_until(proc, "watch:", timeout=60)
        job = GenerationJob.objects.get(user=user)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert f"the job {job.pk} keeps running" in err
    assert GenerationJob.objects.get(pk=job.pk).status == "queued"


def follow_with_worker(args: list[str], *, concurrency: int = 1, **env: str) -> tuple[int, str, str]:
    """`generate ... --follow` while a worker runs in this process (the command's process is the point);
    (exit code, stdout, stderr)."""
    with worker_here(concurrency=concurrency, **env):
        proc = generate(*args, "--follow")
        try:
            out, err = proc.communicate(timeout=90)
        finally:
            proc.kill()
    return proc.returncode, out, err


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fail_stage", "expected"), [(None, 0), ("seo", 1)], ids=["completes", "fails-in-seo"]
)
def test_following_exits_0_when_completed_and_1_when_failed(user, fail_stage, expected):
    env = {"CONTENTGEN_OFFLINE_FAIL_STAGE": fail_stage} if fail_stage else {}
    code, out, err = follow_with_worker(
        ["--user", user.username, "--topic", "Balcony solar", "--word-count", "300"], **env
    )
    assert code == expected, (out, err)
    job = GenerationJob.objects.get(user=user)
    assert job.status == ("completed" if expected == 0 else "failed")
    assert "100.0%" in out or expected == 1
    if expected == 1:
        assert "(stage seo)" in out


@pytest.mark.slow
def test_following_a_batch_exits_0_when_every_article_completed(user, tmp_path):
    sheet = tmp_path / "batch.csv"
    sheet.write_text("topic,word_count\nSolar roofs,300\nWind at home,300\n")
    code, out, err = follow_with_worker(["--user", user.username, "--csv", str(sheet)], concurrency=2)
    assert code == 0, (out, err)
    assert "Solar roofs" in out and "Wind at home" in out
    assert set(GenerationJob.objects.filter(user=user).values_list("status", flat=True)) == {"completed"}


@pytest.mark.slow
def test_following_a_batch_exits_1_when_a_member_failed(user, tmp_path):
    sheet = tmp_path / "batch.csv"
    sheet.write_text("topic,word_count\nSolar roofs,300\nWind at home,300\n")
    proc = generate("--user", user.username, "--csv", str(sheet), "--follow")
    try:
        read_until(proc, "watch:", timeout=60)
        bulk = BulkJob.objects.get(user=user)
        # One member fails (as its worker would record it), the other completes on a worker.
        failing, _ = leases.job_claim(worker_id="test-worker")
        tracker = ProgressTracker(failing, worker_id="test-worker", last_seq=events.last_seq(failing.pk))
        tracker.fail("The model refused the topic", "seo")
        burst_here()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, (out, err)
    assert dict(GenerationJob.objects.filter(bulk_job=bulk).values_list("pk", "status")) == {
        **{job.pk: "completed" for job in GenerationJob.objects.filter(bulk_job=bulk).exclude(pk=failing.pk)},
        failing.pk: "failed",
    }
    assert f"{failing.title} (stage seo): The model refused the topic" in out


def test_jobs_show_prints_the_seo_report_problems_first(user):
    run("generate", "--user", user.username, "--topic", "Rain barrels")
    job = GenerationJob.objects.get(user=user)
    report = [
        {"id": "single_h1", "group": "seo", "status": "good", "score": 9, "message": "One H1."},
        {"id": "keyphrase_density", "group": "seo", "status": "problem", "score": 0, "message": "Cut it."},
        {"id": "passive_voice", "group": "readability", "status": "ok", "score": 6, "message": "Fewer passives."},
    ]
    GenerationJob.objects.filter(pk=job.pk).update(
        status="completed", result=a_result(seo_report=report, meta_derived=True)
    )
    code, out, _ = run("jobs", "show", str(job.pk))
    assert code == 0
    lines = out.splitlines()
    assert "meta derived from the article" in out
    start = lines.index("SEO checks: 1 problems, 0 to improve, 1 good")
    assert lines[start + 1 : start + 3] == ["  Problem  Keyphrase density: Cut it.", "  Good     Single H1 title: One H1."]
    assert "  Improve  Passive voice: Fewer passives." in lines
