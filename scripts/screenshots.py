#!/usr/bin/env python
"""Screenshots of the pages for docs/img/, made the same way every time: anyone can rerun this.

    .venv/bin/python scripts/screenshots.py                 # every set, into docs/img/
    .venv/bin/python scripts/screenshots.py --only admin    # one set (see SETS below)
    .venv/bin/python scripts/screenshots.py --out /tmp/img  # somewhere else

It starts the example identity provider in this process on 127.0.0.1 (a free port) with a fresh SQLite
database and a fresh signing key in a temporary directory, plays a few client sites with tiny HTTP
servers on 127.0.0.1 (one slow, one dead), and drives Debian's Chromium (``apt-get install chromium``;
Playwright never downloads a browser here) through the pages. Nothing outside the temporary directory
and the output folder is touched.

To add a set of pages, write ``def shoot_<name>(site: Site, out: Path) -> list[Path]`` and add it to
``SETS``; ``Site`` has the helpers (users, clients, sign-in, authorization) every set needs.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
DESKTOP = {"width": 1366, "height": 768}  # the smallest common laptop screen: the admin must fit it
PAGE = {"width": 900, "height": 720}  # the provider's own pages: a narrow card
PASSWORD = "demo-password"


# --- the client sites: tiny HTTP servers -------------------------------------------------------------


class ClientSite:
    """A client's endpoints on 127.0.0.1: a front-channel page (after ``delay`` seconds, or never when
    ``hang``), a back-channel receiver (200 after ``delay``), and a redirect URI that answers 200."""

    def __init__(self, *, delay: float = 0.0, hang: bool = False) -> None:
        self.release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                if hang and self.path.startswith("/fc"):
                    owner.release.wait(timeout=60)
                    return
                if delay:
                    owner.release.wait(timeout=delay)
                body = b"<!doctype html><title>ok</title><p>ok</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

            do_GET = _answer

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port_url(path: str) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the identity provider ----------------------------------------------------------------------------


def configure_django(workdir: Path, port: int) -> None:
    """Settings of the example project, on a fresh database and key, before Django is set up."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    os.environ["OIDC_RSA_PRIVATE_KEY"] = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    os.environ["IDP_SQLITE_PATH"] = str(workdir / "idp.sqlite3")
    os.environ["IDP_ISSUER"] = f"http://127.0.0.1:{port}/o"
    os.environ["IDP_ALLOW_PRIVATE_BACKCHANNEL"] = "1"
    os.environ["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def start_server(port: int):
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    thread = LiveServerThread("127.0.0.1", StaticFilesHandler, port=port)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    return thread


@dataclass
class Site:
    """The running identity provider, the browser, and the helpers every set of screenshots uses."""

    url: str
    browser: object
    clients: list[ClientSite] = field(default_factory=list)

    def user(self, username: str, *, staff: bool = False):
        from django.contrib.auth import get_user_model

        User = get_user_model()
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        user.set_password(PASSWORD)
        user.is_staff = user.is_superuser = staff
        user.save()
        return user

    def client_site(self, **kwargs) -> ClientSite:
        site = ClientSite(**kwargs)
        self.clients.append(site)
        return site

    def application(self, name: str, *, redirect_uri: str, frontchannel: str = "", backchannel: str = ""):
        from oauth2_provider.models import get_application_model

        from django_idp_logout.models import ClientLogoutSettings

        Application = get_application_model()
        app, _ = Application.objects.update_or_create(
            client_id=name.lower().replace(" ", "-"),
            defaults={
                "name": name,
                "client_type": Application.CLIENT_PUBLIC,
                "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
                "redirect_uris": redirect_uri,
                "post_logout_redirect_uris": redirect_uri,
                "algorithm": Application.RS256_ALGORITHM,
                "skip_authorization": True,
            },
        )
        ClientLogoutSettings.objects.update_or_create(
            application=app,
            defaults={"frontchannel_logout_uri": frontchannel, "backchannel_logout_uri": backchannel},
        )
        return app

    def context(self, viewport: dict = PAGE):
        context = self.browser.new_context(locale="en-US", viewport=viewport, device_scale_factor=1)
        context.set_default_timeout(15_000)
        return context

    def sign_in(self, page, username: str, *, path: str = "/") -> None:
        page.goto(f"{self.url}/accounts/login/?next={path}")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{self.url}{path}")

    def authorize(self, page, application) -> None:
        """The authorization code flow in the browser: the client joins the browser's session."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": application.client_id,
                "redirect_uri": application.redirect_uris.split()[0],
                "scope": "openid",
                "state": "s",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        page.goto(f"{self.url}/o/authorize/?{query}")
        page.wait_for_load_state("load")

    def admin_sign_in(self, page, username: str) -> None:
        page.goto(f"{self.url}/admin/login/?next=/admin/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{self.url}/admin/")


def save(page_or_locator, out: Path, name: str, **kwargs) -> Path:
    path = out / name
    page_or_locator.screenshot(path=str(path), **kwargs)
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


# --- set: the pages that say what happened (logged-out page, cancelled page, login) ------------------


def shoot_logout_pages(site: Site, out: Path) -> list[Path]:
    shop_site = site.client_site(delay=2.5)  # slow, but answers
    wiki_site = site.client_site(hang=True)  # its front-channel page never answers
    shop = site.application(
        "Shop",
        redirect_uri=shop_site.url("/cb"),
        frontchannel=shop_site.url("/fc"),
        backchannel=shop_site.url("/bc"),
    )
    wiki = site.application(
        "Wiki",
        redirect_uri=wiki_site.url("/cb"),
        frontchannel=wiki_site.url("/fc"),
        backchannel=closed_port_url("/bc"),  # dead: the outbox keeps retrying
    )
    site.user("alice")
    shots = []
    context = site.context()
    try:
        page = context.new_page()
        shots.append(save(page.goto(f"{site.url}/accounts/login/") and page, out, "login.png"))
        site.sign_in(page, "alice")
        site.authorize(page, shop)
        site.authorize(page, wiki)

        # The prompt, "No": the cancelled page.
        page.goto(f"{site.url}/logout/")
        page.click("#logout-cancel")
        page.wait_for_selector("#logout-cancelled-continue")
        shots.append(save(page, out, "logout-cancelled.png"))

        # "Yes": the logged-out page while the clients are told, then finished.
        page.goto(f"{site.url}/logout/")
        page.click("#logout-confirm")
        page.wait_for_selector("#logout-clients")
        page.wait_for_timeout(800)
        shots.append(save(page, out, "logged-out-working.png"))
        page.wait_for_selector("#logout-finished", state="visible", timeout=20_000)
        shots.append(save(page, out, "logged-out-finished.png"))
    finally:
        context.close()
    return shots


# --- set: the operators' admin ---------------------------------------------------------------------


def shoot_admin(site: Site, out: Path) -> list[Path]:
    from django.utils import timezone

    from django_idp_logout.models import EndReason, SessionClient, UserSession

    portal = site.client_site()
    apps = [
        site.application(name, redirect_uri=portal.url(f"/{n}/cb"))
        for n, name in enumerate(["Customer portal", "Reports", "Shop"])
    ]
    shop = apps[2]
    from django_idp_logout.models import ClientLogoutSettings

    ClientLogoutSettings.objects.filter(application=shop).update(
        frontchannel_logout_uri="https://shop.example-corporation.com/oidc-logout/frontchannel-logout/",
        backchannel_logout_uri="https://shop.example-corporation.com/oidc-logout/backchannel-logout/?tenant=emea",
    )
    operator = site.user("operator", staff=True)
    bob = site.user("bob")
    long_name = site.user("alexandra.konstantinopoulou@example-corporation.com")
    now = timezone.now()
    sessions = []
    for n, (user, reason) in enumerate(
        [
            (bob, ""),
            (bob, ""),
            (long_name, ""),
            (long_name, EndReason.TERMINATED),
            (bob, EndReason.USER_LOGOUT),
            (long_name, EndReason.UPSTREAM_LOGOUT),
            (bob, EndReason.SESSION_EXPIRATION),
        ]
    ):
        user_session = UserSession.objects.create(user=user)
        started = now - timezone.timedelta(hours=6 * (n + 1))
        UserSession.objects.filter(pk=user_session.pk).update(
            created_at=started,
            last_activity=started + timezone.timedelta(minutes=40),
            ended_at=started + timezone.timedelta(hours=2) if reason else None,
            end_reason=reason,
        )
        for app in apps[: 1 + n % 3]:
            SessionClient.objects.create(user_session=user_session, application=app)
        sessions.append(user_session)

    shots = []
    context = site.context(DESKTOP)
    try:
        page = context.new_page()
        site.admin_sign_in(page, operator.username)
        page.goto(f"{site.url}/admin/django_idp_logout/usersession/")
        shots.append(save(page, out, "admin-sessions.png", full_page=True))
        page.goto(f"{site.url}/admin/django_idp_logout/usersession/{sessions[0].pk}/change/")
        shots.append(save(page, out, "admin-session.png", full_page=True))
        page.goto(f"{site.url}/admin/auth/user/{bob.pk}/change/")
        shots.append(save(page.locator(".inline-group").last, out, "admin-user-sessions.png"))
        page.goto(f"{site.url}/admin/oauth2_provider/application/{shop.pk}/change/")
        shots.append(save(page.locator(".inline-group").last, out, "admin-application-logout.png"))
    finally:
        context.close()
    return shots


# --- set: an example client site after a single logout ------------------------------------------------


def shoot_client_sites(site: Site, out: Path) -> list[Path]:
    """Shop (example_client/, its own Django project, in a subprocess) as the user sees it when the OP
    sends them back after a logout (``?state=``): "You are signed out everywhere"."""
    import subprocess
    import urllib.request

    port = free_port()
    workdir = Path(os.environ["IDP_SQLITE_PATH"]).parent
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "example_client.settings",
        "CLIENT_ID": "shop",
        "CLIENT_NAME": "Shop",
        "CLIENT_PORT": str(port),
        "CLIENT_SQLITE_PATH": str(workdir / "shop.sqlite3"),
        "IDP_URL": site.url,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    manage = [sys.executable, "example_client/manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    server = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for _ in range(100):
            try:
                opener.open(f"{url}/favicon.ico", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        context = site.context()
        try:
            page = context.new_page()
            page.goto(f"{url}/?state=back-from-the-identity-provider")
            page.wait_for_selector(".signed-out-everywhere")
            return [save(page, out, "client-signed-out-everywhere.png")]
        finally:
            context.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


#: The sets of screenshots, by name. Add yours here.
SETS: dict[str, Callable[[Site, Path], list[Path]]] = {
    "logout-pages": shoot_logout_pages,
    "admin": shoot_admin,
    "client-sites": shoot_client_sites,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="where the PNG files go")
    parser.add_argument("--only", choices=sorted(SETS), action="append", help="one set (repeatable)")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        parser.error("needs Debian's chromium (apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="idp-logout-screenshots-") as workdir:
        port = free_port()
        configure_django(Path(workdir), port)
        server = start_server(port)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            site = Site(url=f"http://127.0.0.1:{port}", browser=browser)
            try:
                for name in args.only or list(SETS):
                    print(f"{name}:")
                    started = time.monotonic()
                    SETS[name](site, args.out)
                    print(f"  ({time.monotonic() - started:.1f} s)")
            finally:
                browser.close()
                for client in site.clients:
                    client.close()
                server.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
