"""The README's two-site demo, end to end, in a real headless Chromium: the example identity provider and
two example client sites (mozilla-django-oidc + the client-site kit) run as real servers, as
``scripts/demo`` starts them. Sign in to both sites, sign out at one, and the other is signed out.

The servers are subprocesses with their own SQLite files and signing key in a temporary directory, on
free ports; the test settings of this process are not involved.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 90  # three migrations in parallel on a loaded machine can take a while
LOGOUT_TIMEOUT = 10
USERNAME, PASSWORD = "alice", "alice-password"  # created by demo_setup
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for 127.0.0.1


@dataclass
class Server:
    name: str
    url: str
    database: Path
    log: Path
    process: subprocess.Popen | None = None


@dataclass
class Demo:
    idp: Server
    shop: Server
    wiki: Server

    @property
    def servers(self) -> tuple[Server, ...]:
        return (self.idp, self.shop, self.wiki)

    def logs(self, lines: int = 40) -> str:
        parts = []
        for server in self.servers:
            text = server.log.read_text(errors="replace") if server.log.exists() else ""
            parts.append(f"--- {server.name} ({server.url}) ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def write_signing_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def clean_environment() -> dict[str, str]:
    """This process's environment without anything that configures Django, the IdP or a client site."""
    prefixes = ("DJANGO_", "IDP_", "CLIENT_", "OIDC_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(prefixes)}
    env["PYTHONUNBUFFERED"] = "1"
    # The sites call each other on 127.0.0.1 (requests honours proxy variables): never through a proxy.
    for name in ("NO_PROXY", "no_proxy"):
        env[name] = ",".join(filter(None, [env.get(name), "127.0.0.1", "localhost"]))
    return env


def run_all(commands: list[tuple[list[str], dict[str, str]]]) -> None:
    """Run set-up commands in parallel; fail with their output if one fails."""
    processes = [
        subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for args, env in commands
    ]
    for (args, _env), process in zip(commands, processes, strict=True):
        output, _ = process.communicate(timeout=STARTUP_TIMEOUT)
        if process.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed ({process.returncode}):\n{output}", pytrace=False)


def wait_until_up(demo: Demo) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    for server in demo.servers:
        while True:
            if server.process.poll() is not None:
                pytest.fail(
                    f"{server.name} exited ({server.process.returncode}):\n{demo.logs()}", pytrace=False
                )
            try:
                DIRECT.open(f"{server.url}/", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{server.name} does not answer at {server.url}:\n{demo.logs()}", pytrace=False
                    )
                time.sleep(0.1)


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The IdP and the Shop and Wiki client sites, set up and started as ``scripts/demo`` does."""
    tmp = tmp_path_factory.mktemp("demo-sites")
    idp_port, shop_port, wiki_port = free_ports(3)
    demo = Demo(
        idp=Server("idp", f"http://127.0.0.1:{idp_port}", tmp / "idp.sqlite3", tmp / "idp.log"),
        shop=Server("Shop", f"http://127.0.0.1:{shop_port}", tmp / "shop.sqlite3", tmp / "shop.log"),
        wiki=Server("Wiki", f"http://127.0.0.1:{wiki_port}", tmp / "wiki.sqlite3", tmp / "wiki.log"),
    )
    key_file = tmp / "oidc.key"
    write_signing_key(key_file)
    base = clean_environment()
    idp_env = {
        **base,
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DJANGO_DEBUG": "1",
        "IDP_SQLITE_PATH": str(demo.idp.database),
        "IDP_OIDC_KEY_FILE": str(key_file),
        "IDP_ISSUER": f"{demo.idp.url}/o",
        # The client sites listen on loopback, which back-channel delivery refuses unless allowed.
        "IDP_ALLOW_PRIVATE_BACKCHANNEL": "1",
    }

    def client_env(server: Server, client_id: str, port: int, check_session: str = "0") -> dict[str, str]:
        return {
            "CLIENT_CHECK_SESSION": check_session,
            **base,
            "DJANGO_SETTINGS_MODULE": "example_client.settings",
            "CLIENT_ID": client_id,
            "CLIENT_NAME": server.name,
            "CLIENT_PORT": str(port),
            "CLIENT_SQLITE_PATH": str(server.database),
            "IDP_URL": demo.idp.url,
        }

    idp_manage = [sys.executable, "manage.py"]
    client_manage = [sys.executable, "example_client/manage.py"]
    envs = {
        demo.idp.name: (idp_manage, idp_env),
        # As scripts/demo: Shop polls the IdP's check_session_iframe (OIDC Session Management).
        demo.shop.name: (client_manage, client_env(demo.shop, "shop", shop_port, check_session="1")),
        demo.wiki.name: (client_manage, client_env(demo.wiki, "wiki", wiki_port)),
    }
    run_all([([*manage, "migrate", "--noinput", "-v", "0"], env) for manage, env in envs.values()])
    run_all(
        [
            (
                [
                    *idp_manage,
                    "demo_setup",
                    f"--base-url={demo.idp.url}",
                    f"--client-site=shop={demo.shop.url}",
                    f"--client-site=wiki={demo.wiki.url}",
                ],
                idp_env,
            )
        ]
    )
    try:
        for server in demo.servers:
            manage, env = envs[server.name]
            address = server.url.removeprefix("http://")
            with server.log.open("w") as log:
                server.process = subprocess.Popen(
                    [*manage, "runserver", "--noreload", address],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
        wait_until_up(demo)
        yield demo
    finally:
        for server in demo.servers:
            stop(server.process)


@contextlib.contextmanager
def server_logs_on_failure(demo: Demo):
    try:
        yield
    except Exception as exc:
        raise AssertionError(f"{exc}\n\nServer logs:\n{demo.logs()}") from exc


def query(database: Path, sql: str, *params) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
        return db.execute(sql, params).fetchall()


def test_sign_in_to_both_sites_sign_out_at_one_and_the_other_is_signed_out(page, demo):
    idp, shop, wiki = demo.idp, demo.shop, demo.wiki
    # The example IdP sends only `sub` today; the client sites then show their local name idp-<sub>.
    [(alice_pk,)] = query(idp.database, "SELECT id FROM auth_user WHERE username = ?", USERNAME)
    alice_names = {USERNAME, f"idp-{alice_pk}"}
    visited: list[str] = []
    # Every URL the tab navigated to, redirects included.
    page.on(
        "request",
        lambda request: (
            visited.append(request.url)
            if request.is_navigation_request() and request.frame == page.main_frame
            else None
        ),
    )
    # Wiki's front-channel receiver is answered by the browser itself, with a page that does nothing:
    # Wiki can then only learn of the logout by back-channel, server to server.
    page.context.route(
        f"{wiki.url}/oidc-logout/frontchannel-logout/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<!DOCTYPE html><p>ok</p>"),
    )

    with server_logs_on_failure(demo):
        # 1. Sign in at Shop: the IdP asks for the password, then the browser is back at Shop.
        page.goto(f"{shop.url}/")
        expect(page.locator("#signed-out")).to_contain_text("Not signed in at Shop")
        page.click("#sign-in")
        page.wait_for_url(f"{idp.url}/accounts/login/**")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{shop.url}/")
        expect(page.locator("#signed-in-as")).to_contain_text("at Shop")
        assert page.locator("#username").inner_text() in alice_names
        shop_sid = page.locator("#sid").inner_text()

        # 2. Sign in at Wiki: single sign-on, no password asked; the same IdP session.
        visited.clear()
        page.goto(f"{wiki.url}/")
        page.click("#sign-in")
        page.wait_for_url(f"{wiki.url}/")
        expect(page.locator("#signed-in-as")).to_contain_text("at Wiki")
        assert page.locator("#username").inner_text() in alice_names
        assert page.locator("#sid").inner_text() == shop_sid
        assert not [url for url in visited if "/accounts/login/" in url], visited

        # 3. Sign out at Shop: its button, the IdP's end session endpoint (with id_token_hint, so no
        # prompt), the IdP's logged-out page, and back to Shop, signed out.
        visited.clear()
        page.goto(f"{shop.url}/")
        page.click("#sign-out")
        page.wait_for_url(re.compile(rf"^{re.escape(shop.url)}/\?state="), timeout=LOGOUT_TIMEOUT * 1000)
        expect(page.locator("#signed-out")).to_contain_text("You are signed out everywhere: at Shop")
        assert any(f"{idp.url}/end-session/?" in url and "id_token_hint=" in url for url in visited), visited

        # 4. Wiki is signed out too: the IdP's back-channel logout token reached Wiki's kit receiver.
        deadline = time.monotonic() + LOGOUT_TIMEOUT
        while True:
            page.goto(f"{wiki.url}/")
            if page.locator("#signed-out").count() or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        # Wiki says why: the back-channel logout deleted its session, and the dead cookie names it.
        expect(page.locator("#signed-out")).to_contain_text("You are signed out everywhere: at Wiki")
        page.reload()  # said once; afterwards Wiki is simply not signed in
        expect(page.locator("#signed-out")).to_contain_text("Not signed in at Wiki")
        assert query(wiki.database, "SELECT end_reason FROM idp_logout_rp_rpsession") == [
            ("backchannel_logout",)
        ]
        assert query(wiki.database, "SELECT COUNT(*) FROM idp_logout_rp_receivedlogouttoken") == [(1,)]
        # And the IdP's session is over: signing in at Wiki again asks for the password.
        page.click("#sign-in")
        page.wait_for_url(f"{idp.url}/accounts/login/**")
        expect(page.locator("#site-name")).to_have_text("Example identity provider")


def test_no_site_of_the_demo_answers_favicon_with_a_404(page, demo):
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    for server in demo.servers:
        with DIRECT.open(f"{server.url}/favicon.ico", timeout=5) as response:
            assert response.status == 200, server.name
            assert response.headers["Content-Type"] == "image/svg+xml"
        # What a browser does on its own: ask for the icon of the page it shows.
        page.goto(f"{server.url}/")
        page.wait_for_load_state("load")
        assert not missing, missing


def test_shop_notices_a_logout_at_wiki_without_reloading(page, demo):
    """OIDC Session Management in the demo: Shop's page polls the IdP's check_session_iframe; signing out
    at Wiki in another tab shows on Shop's open page, which is never reloaded."""
    idp, shop, wiki = demo.idp, demo.shop, demo.wiki
    shop_navigations: list[str] = []
    with server_logs_on_failure(demo):
        page.goto(f"{shop.url}/")
        page.click("#sign-in")
        page.wait_for_url(f"{idp.url}/accounts/login/**")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{shop.url}/")
        expect(page.locator("#signed-in-as")).to_contain_text("at Shop")
        expect(page.locator("html")).to_have_attribute("data-session-check", "unchanged")
        expect(page.locator("#session-changed")).to_be_hidden()
        page.on(
            "framenavigated",
            lambda frame: shop_navigations.append(frame.url) if frame == page.main_frame else None,
        )

        wiki_tab = page.context.new_page()
        wiki_tab.goto(f"{wiki.url}/")
        wiki_tab.click("#sign-in")
        wiki_tab.wait_for_url(f"{wiki.url}/")  # single sign-on: no password
        expect(wiki_tab.locator("#signed-in-as")).to_contain_text("at Wiki")
        expect(page.locator("html")).to_have_attribute("data-session-check", "unchanged")
        wiki_tab.click("#sign-out")
        wiki_tab.wait_for_url(re.compile(rf"^{re.escape(wiki.url)}/\?state="), timeout=LOGOUT_TIMEOUT * 1000)

        expect(page.locator("#session-changed")).to_be_visible(timeout=LOGOUT_TIMEOUT * 1000)
        expect(page.locator("html")).to_have_attribute("data-session-check", "changed")
        assert shop_navigations == [], shop_navigations
