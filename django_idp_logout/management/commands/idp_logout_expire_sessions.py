"""End sessions past SESSION_IDLE_TIMEOUT / SESSION_ABSOLUTE_TIMEOUT. Run it from cron (e.g. every minute)."""

import time

from django.core.management.base import BaseCommand, CommandError

from django_idp_logout.services.expiry import expire_sessions, expired_sessions_filter


class Command(BaseCommand):
    help = "End login sessions that passed their idle or absolute timeout (revoking coordinated tokens)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Sessions per transaction (default 500)."
        )
        parser.add_argument(
            "--queue-only",
            action="store_true",
            help="Only write back-channel notifications to the outbox; idp_logout_deliver (or the "
            "delivery worker) sends them. Recommended for large backlogs.",
        )

    def handle(self, *args, batch_size, queue_only, verbosity, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if expired_sessions_filter() is None:
            self.stdout.write("No SESSION_IDLE_TIMEOUT or SESSION_ABSOLUTE_TIMEOUT is set: nothing expires.")
            return
        started = time.monotonic()

        def progress(done):
            if verbosity >= 2:
                self.stdout.write(f"  … {done} sessions ended")

        ended = expire_sessions(batch_size=batch_size, progress=progress, dispatch=not queue_only)
        elapsed = time.monotonic() - started
        rate = f" ({ended / elapsed:.0f}/s)" if ended and elapsed > 0 else ""
        self.stdout.write(self.style.SUCCESS(f"Ended {ended} expired sessions in {elapsed:.2f}s{rate}."))
