"""The logout flow as a user sees it, in a real headless Chromium against the live example IdP."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

PROMPT_SCREENSHOT = "/tmp/prompt.png"


def home_text(context, idp) -> str:
    """The IdP home page as seen by another tab of the same browser (same cookies)."""
    tab = context.new_page()
    try:
        tab.goto(f"{idp.url}/")
        return tab.locator("main").inner_text()
    finally:
        tab.close()


def assert_signed_in(context, idp) -> None:
    assert f"Signed in as {idp.user.get_username()}" in home_text(context, idp)


def assert_signed_out(context, idp) -> None:
    text = home_text(context, idp)
    assert "Signed in as" not in text
    assert "Sign in" in text


def silent_authorize_url(idp) -> str:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": idp.application.client_id,
            "redirect_uri": idp.redirect_uri,
            "scope": "openid",
            "state": "st",
            "prompt": "none",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{idp.url}/o/authorize/?{query}"


def press(page, selector: str, *, status: int) -> None:
    """Click a submit button of the logout page and check the answer to the form's POST."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and urlsplit(r.url).path == "/logout/"
    ) as post:
        page.click(selector)
    response = post.value
    assert response.status == status, (
        f"POST /logout/ answered {response.status}, not {status}: {visible_text(response)}"
    )


def visible_text(response, limit: int = 400) -> str:
    html = re.sub(r"(?is)<(head|style|script)\b.*?</\1>", " ", response.text())
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())[:limit]


def expect_prompt(page, idp) -> None:
    expect(page).to_have_url(re.compile(rf"^{re.escape(idp.url)}/logout/\?logout_id="))
    expect(page.locator("h1")).to_have_text("Do you want to sign out?")
    confirm = page.locator("#logout-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_have_attribute("autofocus", re.compile(r".*"))
    expect(confirm).to_be_focused()
    expect(page.locator("#logout-cancel")).to_be_visible()
    expect(page.locator("main")).to_contain_text(f"You are signed in as {idp.user.get_username()}.")


def test_prompt_flow_without_hint(page, browser_context, live_idp):
    idp = live_idp
    sign_in(page, idp)

    page.goto(
        idp.end_session_url(
            client_id=idp.application.client_id, post_logout_redirect_uri=idp.post_logout_uri, state="abc"
        )
    )
    expect_prompt(page, idp)
    expect(page.locator("main")).to_contain_text("Browser RP asked to sign you out.")
    page.screenshot(path=PROMPT_SCREENSHOT, full_page=True)
    # The end session endpoint and the prompt sign nobody out: only the confirmation does.
    assert_signed_in(browser_context, idp)

    press(page, "#logout-confirm", status=302)
    # client_id + the user's explicit confirmation prove the client: back to it, with its state.
    page.wait_for_url(f"{idp.post_logout_uri}?state=abc")
    expect(page.locator("#client-signed-out")).to_be_visible()
    expect(page.locator("#returned-state")).to_have_text("abc")
    assert_signed_out(browser_context, idp)

    # RP-Initiated Logout 1.0 section 2: a silent authentication request now answers login_required.
    with page.expect_response(lambda r: urlsplit(r.url).path == "/o/authorize/") as authorize:
        page.goto(silent_authorize_url(idp))
    response = authorize.value
    assert response.status == 302
    location = response.headers["location"]
    assert location.startswith(idp.redirect_uri), location
    params = parse_qs(urlsplit(location).query)
    assert params["error"] == ["login_required"], params
    assert params["state"] == ["st"]
    assert "code" not in params
    # The browser followed the redirect to the client's callback (which refuses it: no PKCE state).
    final = urlsplit(page.url)
    assert f"{final.scheme}://{final.netloc}{final.path}" == idp.redirect_uri
    assert parse_qs(final.query)["error"] == ["login_required"]


def test_cancel_keeps_user_signed_in(page, browser_context, live_idp):
    idp = live_idp
    sign_in(page, idp)
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(
        idp.end_session_url(
            client_id=idp.application.client_id, post_logout_redirect_uri=idp.post_logout_uri, state="abc"
        )
    )
    expect_prompt(page, idp)

    press(page, "#logout-cancel", status=200)
    expect(page.locator("h1")).to_have_text("You are still signed in")
    expect(page.locator("main")).to_contain_text("You chose not to sign out.")
    assert urlsplit(page.url).path == "/logout/"
    assert page.url.startswith(f"{idp.url}/")
    assert_signed_in(browser_context, idp)
    assert not [url for url in requested if url.startswith(idp.post_logout_uri)], requested
    assert not [url for url in requested if urlsplit(url).path == "/logged-out/"], requested


def test_logged_out_page_without_redirect(page, browser_context, live_idp):
    idp = live_idp
    sign_in(page, idp)

    page.goto(f"{idp.url}/logout/")
    expect(page.locator("h1")).to_have_text("Do you want to sign out?")
    expect(page.locator("#logout-confirm")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("asked to sign you out")

    press(page, "#logout-confirm", status=302)
    page.wait_for_url(re.compile(rf"^{re.escape(idp.url)}/logged-out/"))
    expect(page.locator("h1")).to_have_text("You are signed out")
    expect(page.locator("main")).to_contain_text("You can close this page.")
    expect(page.locator("#logout-return")).to_have_count(0)
    # No client to return to: no automatic redirect either; the browser stays on the IdP.
    page.wait_for_timeout(300)
    assert urlsplit(page.url).path == "/logged-out/"
    assert page.url.startswith(f"{idp.url}/")
    assert_signed_out(browser_context, idp)
