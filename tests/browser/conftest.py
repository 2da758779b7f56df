"""Fixtures of the browser tests: one headless Chromium per test module, a fresh context per test, and the
live identity provider (issuer on the live server, a user, a client registered on the demo client pages).

Chromium is Debian's (``apt-get install chromium``), never one downloaded by ``playwright install``.
A missing Chromium fails the tests: it is a broken test environment, not a reason to skip.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 5_000
PASSWORD = "alice-browser-password"


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            "The browser tests need Debian's chromium at /usr/bin/chromium (or on PATH): "
            "run `apt-get install chromium` (scripts/test does it when run as root).",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def chromium():
    """Chromium for the tests of one module.

    While Playwright's sync API is started, its event loop counts as running in the test's thread, and
    Django refuses ORM calls there (``SynchronousOnlyOperation``), although the tests and fixtures make
    plain synchronous ones. So ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set for exactly as long as Playwright
    runs: per module, so that the tests collected after the browser tests keep Django's guard.
    """
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield browser
            finally:
                browser.close()


@pytest.fixture
def browser_context(chromium):
    context = chromium.new_context(locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    return browser_context.new_page()


@dataclass
class LiveIdp:
    url: str
    user: object
    application: object
    password: str = PASSWORD

    @property
    def redirect_uri(self) -> str:
        return f"{self.url}/demo-client/callback/"

    @property
    def post_logout_uri(self) -> str:
        return f"{self.url}/demo-client/signed-out/"

    def end_session_url(self, **params) -> str:
        return f"{self.url}/end-session/?{urlencode(params)}"


@pytest.fixture
def live_idp(live_server, transactional_db, settings, django_user_model, application_factory):
    """The IdP on the live server: issuer moved there, user ``alice``, client ``browser-rp``."""
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": f"{live_server.url}/o"}
    user = django_user_model.objects.create_user("alice", password=PASSWORD)
    application = application_factory(
        name="Browser RP",
        client_id="browser-rp",
        redirect_uris=f"{live_server.url}/demo-client/callback/",
        post_logout_redirect_uris=f"{live_server.url}/demo-client/signed-out/",
        skip_authorization=True,
    )
    return LiveIdp(url=live_server.url, user=user, application=application)


def sign_in(page, idp) -> None:
    """Sign in through the IdP's login form, as a user would."""
    page.goto(f"{idp.url}/accounts/login/?next=/")
    page.fill("#id_username", idp.user.get_username())
    page.fill("#id_password", idp.password)
    page.click("#login-submit")
    page.wait_for_url(f"{idp.url}/")
    expect(page.locator("main")).to_contain_text(f"Signed in as {idp.user.get_username()}")
