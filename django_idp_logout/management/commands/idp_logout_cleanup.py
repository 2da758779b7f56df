"""Delete old ended sessions (and their bindings, clients and settled notifications), delivered
notifications as old, and expired upstream logout tokens. Run daily; keep what your audits need with
IDP_LOGOUT["CLEANUP_RETENTION_DAYS"] or --days."""

import time

from django.core.management.base import BaseCommand, CommandError

from django_idp_logout.conf import app_settings
from django_idp_logout.services.cleanup import cleanup


class Command(BaseCommand):
    help = "Delete sessions ended more than --days ago (with their rows) and expired upstream logout tokens."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Keep ended sessions this long (default: IDP_LOGOUT['CLEANUP_RETENTION_DAYS'], 30).",
        )
        parser.add_argument("--batch-size", type=int, default=1000, help="Sessions per transaction.")

    def handle(self, *args, days, batch_size, verbosity, **options):
        days = app_settings.CLEANUP_RETENTION_DAYS if days is None else days
        if days < 0 or batch_size < 1:
            raise CommandError("--days must be >= 0 and --batch-size >= 1.")
        started = time.monotonic()

        def progress(done):
            if verbosity >= 2:
                self.stdout.write(f"  … {done} sessions deleted")

        counts = cleanup(ended_before_days=days, batch_size=batch_size, progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {counts.sessions} ended sessions, {counts.notifications} more delivered "
                f"notifications and {counts.upstream_tokens} expired upstream logout tokens "
                f"(kept {days} days) in {time.monotonic() - started:.2f}s."
            )
        )
