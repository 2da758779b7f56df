"""Send the back-channel logout notifications that are due (new, or waiting for a retry).

Run it from cron every minute, or use the Celery beat task
``django_idp_logout.tasks.deliver_due_notifications``.
It is what guarantees that a notification survives a process that died between commit and delivery.
"""

from django.core.management.base import BaseCommand, CommandError

from django_idp_logout.services.notifications import deliver_due


class Command(BaseCommand):
    help = "Deliver due back-channel logout notifications."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=500, help="Notifications per batch (default 500).")
        parser.add_argument("--until-done", action="store_true", help="Repeat batches until nothing is due.")

    def handle(self, *args, limit, until_done, **options):
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
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
