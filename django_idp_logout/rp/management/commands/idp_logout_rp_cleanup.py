"""``manage.py idp_logout_rp_cleanup``: delete expired replay records and ended index rows (and, with
``IDP_LOGOUT_RP["INDEX_MAX_AGE"]``, rows of sessions older than that). Run it daily from cron."""

from django.core.management.base import BaseCommand

from ...services import clear_expired


class Command(BaseCommand):
    help = "Delete expired logout token records and ended session index rows of the client-site kit."

    def handle(self, *args, **options):
        counts = clear_expired()
        self.stdout.write(
            f"Deleted {counts.tokens} logout token record(s), {counts.ended_sessions} ended session row(s) "
            f"and {counts.old_sessions} session row(s) past INDEX_MAX_AGE."
        )
