"""End many sessions at once: every session of a user, of a client (e.g. a compromised one), or all.

Batch by batch, one transaction each, a constant number of statements per batch. Killed half-way, it
leaves every batch either done or untouched: run it again to end the rest. Several nodes may run it at
once (PostgreSQL ``SKIP LOCKED``): each session still ends once, with one notification per client.
"""

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from oauth2_provider.models import get_application_model

from django_idp_logout.models import EndReason, UserSession
from django_idp_logout.services.sessions import DEFAULT_BATCH_SIZE, iter_end_sessions


class Command(BaseCommand):
    help = (
        "End the active sessions of a user (--user), of a client (--client) or all of them (--all): "
        "revoke coordinated tokens and queue back-channel notifications."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", help="The user's username (USERNAME_FIELD).")
        parser.add_argument("--client", help="A client_id: end every session this client took part in.")
        parser.add_argument(
            "--all", dest="all_sessions", action="store_true", help="End every active session."
        )
        parser.add_argument(
            "--reason",
            default=EndReason.TERMINATED,
            choices=[choice.value for choice in EndReason],
            help="End reason given to signals and logout tokens (default terminated).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Sessions per transaction (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--queue-only",
            action="store_true",
            help="Only write back-channel notifications to the outbox; idp_logout_deliver (or the "
            "delivery worker) sends them. Recommended for large runs.",
        )

    def handle(self, *args, user, client, all_sessions, reason, batch_size, queue_only, verbosity, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if not (user or client or all_sessions):
            raise CommandError("Say which sessions to end: --user USERNAME, --client CLIENT_ID or --all.")
        if all_sessions and (user or client):
            raise CommandError("--all cannot be combined with --user or --client.")
        sessions = UserSession.objects.active()
        if user:
            User = get_user_model()
            found = User._default_manager.filter(**{User.USERNAME_FIELD: user}).first()
            if found is None:
                raise CommandError(f"No user {user!r}.")
            sessions = sessions.filter(user=found)
        if client:
            if not get_application_model().objects.filter(client_id=client).exists():
                raise CommandError(f"No client {client!r}.")
            sessions = sessions.filter(session_clients__application__client_id=client)

        total = sessions.count()
        self.stdout.write(f"{total} active sessions to end, {batch_size} per batch.")
        started = last_report = time.monotonic()
        done = 0
        for ended in iter_end_sessions(
            sessions, reason=reason, batch_size=batch_size, share_work=True, dispatch=not queue_only
        ):
            done += len(ended)
            now = time.monotonic()
            if verbosity >= 2 or (verbosity >= 1 and now - last_report >= 2):
                last_report = now
                self.stdout.write(f"  … {done} / {total} ended ({done / max(now - started, 1e-9):.0f}/s)")
        elapsed = time.monotonic() - started
        rate = f" ({done / elapsed:.0f}/s)" if done and elapsed > 0 else ""
        self.stdout.write(self.style.SUCCESS(f"Ended {done} sessions in {elapsed:.2f}s{rate}."))
        if queue_only:
            self.stdout.write("Notifications queued: idp_logout_deliver or the delivery worker sends them.")
