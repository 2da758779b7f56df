"""Report the tokens bound to no session (issued before the app was installed), per client.

They are revoked when any session of their user ends, for coordinated clients (docs/adopting.md); this
shows how many are still out there, so an operator knows when the adoption has run its course.
"""

from django.core.management.base import BaseCommand

from django_idp_logout.conf import app_settings
from django_idp_logout.services.unbound import count_unbound_tokens

COLUMNS = ("client_id", "coordinated", "access", "refresh", "id", "codes")


class Command(BaseCommand):
    help = "Count the still usable tokens that belong to no session (issued before the app), per client."

    def handle(self, *args, **options):
        rows = count_unbound_tokens()
        if not rows:
            self.stdout.write(self.style.SUCCESS("No unbound tokens remain."))
            if app_settings.REVOKE_UNBOUND_TOKENS:
                self.stdout.write(
                    "You may set IDP_LOGOUT['REVOKE_UNBOUND_TOKENS'] = False: "
                    "it saves one statement per logout."
                )
            return
        table = [COLUMNS] + [
            (
                row.client_id,
                "yes" if row.coordinated else "no",
                str(row.access_tokens),
                str(row.refresh_tokens),
                str(row.id_tokens),
                str(row.grants),
            )
            for row in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
        for line in table:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            )
        total = sum(row.total for row in rows)
        kept = sum(row.total for row in rows if not row.coordinated)
        self.stdout.write(
            f"{total} unbound tokens in {len(rows)} clients. Those of coordinated clients are revoked when "
            f"a session of their user ends; {kept} belong to clients that are not coordinated and stay "
            "until they expire or are revoked."
        )
