from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from contentgen.errors import ApplicationError
from jobs.core import selectors, services
from jobs.management import cli
from jobs.models import BulkJob, GenerationJob


class Command(BaseCommand):
    help = "Operators' view of jobs: ls, show, cancel, retry (an id may be a job's or a batch's)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ls = sub.add_parser("ls", help="list recent jobs")
        ls.add_argument("--user", help="only this user's jobs")
        ls.add_argument("--status", choices=GenerationJob.Status.values)
        ls.add_argument("--limit", type=int, default=20)
        for name, text in (
            ("show", "a job's state"),
            ("cancel", "cancel a job, or every unfinished article of a batch"),
            ("retry", "retry a failed or cancelled job, or a batch's failed and cancelled articles"),
        ):
            sub.add_parser(name, help=text).add_argument("id")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"do_{options['action']}")(options)
        except cli.BadInput as exc:
            for message in exc.messages:
                self.stderr.write(f"error: {message}")
            sys.exit(cli.EXIT_BAD_INPUT)
        except ApplicationError as exc:
            self.stderr.write(f"error: {exc.message}")
            sys.exit(cli.EXIT_FAILED)

    def do_ls(self, options: dict[str, Any]) -> None:
        qs = GenerationJob.objects.select_related("user").order_by("-created_at")
        if options["user"]:
            qs = qs.filter(user=cli.find_user(options["user"]))
        if options["status"]:
            qs = qs.filter(status=options["status"])
        self.stdout.write(f"{'id':<24}  {'user':<16} {'mode':<8} {'status':<10} {'stage':<9} {'%':>3}  title")
        for job in qs[: max(1, options["limit"])]:
            self.stdout.write(
                f"{job.pk!s:<24}  {cli.shown(job.user.get_username(), 16):<16} {job.mode:<8} "
                f"{job.status:<10} {job.progress.stage:<9} {job.progress.percentage:>3.0f}  "
                f"{cli.shown(job.title, 50)}"
            )

    def _target(self, raw: str) -> GenerationJob | BulkJob:
        oid = selectors.parse_id(raw)
        found = (
            GenerationJob.objects.filter(pk=oid).first() or BulkJob.objects.filter(pk=oid).first()
            if oid
            else None
        )
        if found is None:
            raise cli.BadInput([f"id: no job or batch has the id {raw!r}."])
        return found

    def do_show(self, options: dict[str, Any]) -> None:
        target = self._target(options["id"])
        if isinstance(target, BulkJob):
            self.stdout.write(f"batch {target.pk}: {target.finished} of {target.total} ended {target.counts}")
            for job in selectors.bulk_jobs(bulk=target):
                title = cli.shown(job.title, 50)
                self.stdout.write(f"  {job.pk} {job.status:<10} {job.progress.stage:<9} {title}")
        else:
            p = target.progress
            self.stdout.write(f"job {target.pk} ({target.mode}) {cli.shown(target.title)}")
            self.stdout.write(
                f"status {target.status}, stage {p.stage} {p.percentage:.0f}%, attempts {target.attempts}"
            )
            self.stdout.write(f"message: {cli.shown(p.message)}")
            if target.error:
                self.stdout.write(f"error in {target.error.stage}: {cli.shown(target.error.message)}")
            if target.result:
                r = target.result
                self.stdout.write(
                    f"result: {r.word_count} words, SEO {r.seo_score}, readability {r.readability_score}"
                    + (", meta derived from the article" if r.meta_derived else "")
                )
                for line in cli.report_lines(r.seo_report or []):
                    self.stdout.write(line)
            if target.usage:
                self.stdout.write(f"usage: {cli.usage_line(target.usage)}")
        self.stdout.write(f"page: {cli.page_url(target)}")

    def do_cancel(self, options: dict[str, Any]) -> None:
        target = self._target(options["id"])
        if isinstance(target, BulkJob):
            outcome = services.bulk_cancel(bulk=target)
            self.stdout.write(
                f"cancelled {outcome.changed} queued, asked {outcome.requested} running to stop"
            )
        else:
            job = services.job_cancel(job=target)
            self.stdout.write(
                "cancelled" if job.status == GenerationJob.Status.CANCELLED else "asked to stop"
            )

    def do_retry(self, options: dict[str, Any]) -> None:
        target = self._target(options["id"])
        if isinstance(target, BulkJob):
            outcome = services.bulk_retry_failed(bulk=target, charge=False)
            self.stdout.write(f"queued {outcome.changed} again")
        else:
            services.job_retry(job=target)
            self.stdout.write("queued again")
