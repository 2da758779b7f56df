"""Create the demo users, the demo client and the example client sites (idempotent)."""

from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from oauth2_provider.models import get_application_model

from django_idp_logout.models import ClientLogoutSettings

USERS = (("alice", "alice-password", True), ("bob", "bob-password", False))
# The example client sites that scripts/demo starts (example_client/ with CLIENT_ID=shop or wiki).
CLIENT_SITES = ("shop=http://127.0.0.1:8001", "wiki=http://127.0.0.1:8002")


def client_secret(client_id: str) -> str:
    """The demo secret of an example client site: example_client/settings.py's default CLIENT_SECRET."""
    return f"{client_id}-demo-secret"


def parse_site(value: str) -> tuple[str, str]:
    client_id, sep, url = value.partition("=")
    parts = urlsplit(url)
    if not sep or not client_id or parts.scheme not in ("http", "https") or not parts.netloc:
        raise CommandError(f"--client-site wants CLIENT_ID=URL, e.g. shop=http://127.0.0.1:8001: {value!r}")
    return client_id, url.rstrip("/")


class Command(BaseCommand):
    help = (
        "Create demo users (alice, bob), the built-in demo client, and the example client sites "
        "(shop on port 8001, wiki on 8002) with front- and back-channel logout."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="this identity provider")
        parser.add_argument(
            "--client-site",
            action="append",
            metavar="CLIENT_ID=URL",
            help=f"an example client site to register (repeatable; default: {' '.join(CLIENT_SITES)})",
        )

    def handle(self, *args, base_url, client_site, **options):
        sites = [parse_site(value) for value in client_site or CLIENT_SITES]
        User = get_user_model()
        for username, password, is_staff in USERS:
            user, created = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.email = f"{username}@example.com"
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
        for client_id, url in sites:
            app, created = Application.objects.update_or_create(
                client_id=client_id,
                defaults={
                    "name": f"{client_id.capitalize()} (example client site)",
                    "client_type": Application.CLIENT_CONFIDENTIAL,
                    "client_secret": client_secret(client_id),  # hashed on save
                    "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
                    "redirect_uris": f"{url}/oidc/callback/",
                    "post_logout_redirect_uris": f"{url}/",
                    "algorithm": Application.RS256_ALGORITHM,
                    "skip_authorization": True,
                },
            )
            ClientLogoutSettings.objects.update_or_create(
                application=app,
                defaults={
                    "frontchannel_logout_uri": f"{url}/oidc-logout/frontchannel-logout/",
                    "frontchannel_logout_session_required": True,
                    "backchannel_logout_uri": f"{url}/oidc-logout/backchannel-logout/",
                    "backchannel_logout_session_required": True,
                },
            )
            self.stdout.write(
                f"{'created' if created else 'updated'} client site {client_id} at {url} "
                f"(secret {client_secret(client_id)}, front- and back-channel logout)"
            )
