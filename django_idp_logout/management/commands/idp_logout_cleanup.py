"""Delete old ended sessions (and their bindings, clients and settled notifications) and expired
upstream logout tokens. Run daily; keep what your audits need with --days."""

from django.core.management.base import BaseCommand, CommandError

from django_idp_logout.services.cleanup import cleanup


class Command(BaseCommand):
    help = "Delete sessions ended more than --days ago and expired upstream logout tokens."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=30, help="Keep ended sessions this long (default 30)."
        )
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, days, batch_size, verbosity, **options):
        if days < 0 or batch_size < 1:
            raise CommandError("--days must be >= 0 and --batch-size >= 1.")

        def progress(done):
            if verbosity >= 2:
                self.stdout.write(f"  … {done} sessions deleted")

        counts = cleanup(ended_before_days=days, batch_size=batch_size, progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {counts.sessions} ended sessions and "
                f"{counts.upstream_tokens} expired upstream logout tokens."
            )
        )
