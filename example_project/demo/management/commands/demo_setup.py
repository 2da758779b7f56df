"""Create the demo users and the demo client (idempotent)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from oauth2_provider.models import get_application_model

USERS = (("alice", "alice-password", True), ("bob", "bob-password", False))


class Command(BaseCommand):
    help = "Create demo users (alice, bob) and the demo client of the example identity provider."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, base_url, **options):
        User = get_user_model()
        for username, password, is_staff in USERS:
            user, created = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = user.is_superuser = is_staff
            user.save()
            self.stdout.write(f"{'created' if created else 'updated'} user {username} / {password}")
        Application = get_application_model()
        app, created = Application.objects.update_or_create(
            client_id="demo-client",
            defaults={
                "name": "Demo client",
                "client_type": Application.CLIENT_PUBLIC,
                "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
                "redirect_uris": f"{base_url}/demo-client/callback/",
                "post_logout_redirect_uris": f"{base_url}/demo-client/signed-out/",
                "algorithm": Application.RS256_ALGORITHM,
                "skip_authorization": True,
            },
        )
        self.stdout.write(f"{'created' if created else 'updated'} client demo-client")
