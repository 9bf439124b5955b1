from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from rich.console import Console

from jobs.management import cli
from jobs.models import GenerationJob


class Command(BaseCommand):
    help = "Create an article (or a batch from a CSV file) as a user; --follow shows its live progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="the owner's username")
        parser.add_argument("--mode", default="topic", help=f"one of {', '.join(GenerationJob.Mode.values)}")
        parser.add_argument("--topic", default="")
        parser.add_argument("--keywords", default="", help="comma separated")
        parser.add_argument("--source-text", default="", help="the text to rewrite (spin mode)")
        parser.add_argument("--word-count", default="")
        parser.add_argument("--tone", default="")
        parser.add_argument("--csv", type=Path, help="a batch: columns mode,topic,keywords,word_count,tone")
        parser.add_argument("--follow", action="store_true", help="show live progress until it ends")

    def handle(self, *args: Any, **options: Any) -> None:
        console = Console(file=getattr(self.stdout, "_out", sys.stdout), highlight=False)
        fields = {
            name: str(options[name.replace("-", "_")])
            for name in ("mode", "topic", "keywords", "source_text", "word_count", "tone")
        }
        try:
            user = cli.find_user(options["user"])
            if options["csv"]:
                defaults = {k: v for k, v in fields.items() if k in ("mode", "word_count", "tone") and v}
                target: Any = cli.create_batch(user=user, csv_path=options["csv"], defaults=defaults)
            else:
                target = cli.create_job(user=user, fields=fields)
        except cli.BadInput as exc:
            for message in exc.messages:
                self.stderr.write(f"error: {message}")
            sys.exit(cli.EXIT_BAD_INPUT)
        kind = "batch" if options["csv"] else "job"
        try:
            self.stdout.write(f"{kind} {target.pk}")
            self.stdout.write(f"watch: {cli.page_url(target)}")
            if not options["follow"]:
                return
            self._exit_promptly_on_ctrl_c(f"the {kind} {target.pk} keeps running.")
            outcome = cli.follow_batch(target, console) if options["csv"] else cli.follow_job(target, console)
        except KeyboardInterrupt:
            self.stderr.write(f"stopped following; the {kind} {target.pk} keeps running.")
            sys.exit(cli.EXIT_INTERRUPTED)
        cli.report(outcome, console)
        sys.exit(outcome.exit_code)

    def _exit_promptly_on_ctrl_c(self, what: str) -> None:
        """Ctrl-C ends the command at once with 130. Left to asyncio.run, it would first wait for the
        stream's cleanup (a Redis unsubscribe, a database read in a thread), which can take long."""

        def interrupted(signum: int, frame: object) -> None:
            self.stderr.write(f"\nstopped following; {what}")
            self.stderr.flush()
            self.stdout.flush()
            os._exit(cli.EXIT_INTERRUPTED)

        signal.signal(signal.SIGINT, interrupted)
