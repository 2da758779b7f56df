"""Send the back-channel logout notifications that are due (new, or waiting for a retry).

- No option: one batch (``--limit``), sent concurrently; run it from cron every minute, or use the
  Celery beat task ``django_idp_logout.tasks.deliver_due_notifications``.
- ``--until-done``: batches until nothing is due.
- ``--worker``: the delivery worker, a long-running process for deployments that outgrow a thread
  pool: it keeps claiming and sending within ``BACKCHANNEL_CONCURRENCY`` (and per client), pauses
  clients that keep failing, and stops cleanly on SIGTERM/SIGINT. With ``--until-done`` it exits once
  nothing is due or in flight.

The outbox is what guarantees that a notification survives a process that died between commit and
delivery: whichever of these runs next sends it.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from django_idp_logout.services.outbox import deliver_due, run_worker


class Command(BaseCommand):
    help = "Deliver due back-channel logout notifications (once, --until-done, or as a --worker)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=int, default=None, help="Notifications per batch / per claim (default 500)."
        )
        parser.add_argument("--until-done", action="store_true", help="Repeat until nothing is due.")
        parser.add_argument(
            "--worker",
            action="store_true",
            help="Run the delivery worker (non-blocking HTTP, limits, circuit breaker) until stopped.",
        )

    def handle(self, *args, limit, until_done, worker, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        if worker:
            return self.run_worker(limit, until_done)
        limit = limit or 500
        totals = {"due": 0, "delivered": 0, "failed": 0}
        while True:
            counts = deliver_due(limit=limit)
            for key in totals:
                totals[key] += counts[key]
            if counts["due"]:
                self.stdout.write(
                    f"  batch: {counts['due']} due, {counts['delivered']} delivered, "
                    f"{counts['failed']} failed"
                )
            if not until_done or counts["due"] < limit:
                break
        self.stdout.write(
            self.style.SUCCESS(
                f"{totals['due']} due: {totals['delivered']} delivered, "
                f"{totals['failed']} failed (will retry or gave up)."
            )
        )

    def run_worker(self, limit, until_done):
        started = time.monotonic()
        last = [started]

        def progress(totals):
            now = time.monotonic()
            if now - last[0] >= 5:
                last[0] = now
                self.stdout.write(
                    f"  {totals.delivered} delivered, {totals.failed} failed, "
                    f"{len(totals.paused_clients)} clients paused ({now - started:.0f}s)"
                )

        self.stdout.write("Delivery worker started" + (" (until nothing is due)." if until_done else "."))
        totals = run_worker(batch=limit, until_idle=until_done, progress=progress, stop_on_signals=True)
        self.stdout.write(
            self.style.SUCCESS(
                f"Worker stopped after {time.monotonic() - started:.1f}s: {totals.delivered} delivered, "
                f"{totals.failed} failed (will retry or gave up), {totals.released} given back "
                f"(client paused), {len(totals.paused_clients)} clients paused."
            )
        )
