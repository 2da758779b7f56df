"""The "your sessions" page and the session limits as users see them: several real headless Chromium
contexts (each its own browser: cookies, User-Agent) against the live example IdP, a real back-channel
receiver on 127.0.0.1 for the client.

``IDP_SCREENSHOTS_DIR=docs/screenshots`` makes the screenshot test write the docs' pictures there
(``scripts/screenshots-sessions`` does that).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from jwcrypto import jwt
from playwright.sync_api import expect

from django_idp_logout.models import EndReason, UserSession
from tests.browser.conftest import TIMEOUT_MS, sign_in

pytestmark = pytest.mark.browser

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/128.0.0.0 Mobile Safari/537.36"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36 Edg/129.0.0.0"
)


@pytest.fixture
def new_browser(chromium):
    """Open another browser (its own cookies) with a given User-Agent; all are closed at the end."""
    contexts = []

    def open_browser(user_agent: str):
        context = chromium.new_context(
            locale="en-US", user_agent=user_agent, viewport={"width": 900, "height": 760}
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_browser
    for context in contexts:
        context.close()


@pytest.fixture
def idp_with_backchannel(live_idp, settings, logout_settings_factory, backchannel_receiver):
    """The live IdP whose client ``Browser RP`` takes back-channel logout tokens at the receiver."""
    settings.IDP_LOGOUT = {
        "BACKCHANNEL_DELIVERY": "sync",
        "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True,
        "COORDINATE_LIFETIME_WITH_USER_SESSION": True,
    }
    logout_settings_factory(live_idp.application, backchannel_logout_uri=backchannel_receiver.url("/bc"))
    return live_idp


def use_client(page, idp) -> dict:
    """Sign in to the client ``Browser RP`` from this browser (the real code flow); its tokens."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": idp.application.client_id,
            "redirect_uri": idp.redirect_uri,
            "scope": "openid",
            "state": "st",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    with page.expect_response(lambda r: urlsplit(r.url).path == "/o/authorize/") as answer:
        page.goto(f"{idp.url}/o/authorize/?{query}")
    code = parse_qs(urlsplit(answer.value.headers["location"]).query)["code"][0]
    response = requests.post(
        f"{idp.url}/o/token/",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": idp.redirect_uri,
            "client_id": idp.application.client_id,
            "client_secret": idp.application.client_secret,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def signed_in(page, idp) -> bool:
    page.goto(f"{idp.url}/")
    return "Signed in as" in page.locator("main").inner_text()


def session_row(page, text: str):
    return page.locator("li.session", has_text=text)


def wait_for_posts(receiver, path: str, count: int) -> list:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(receiver.posts_to(path)) < count:
        time.sleep(0.05)
    return receiver.posts_to(path)


def test_ending_another_browsers_session_signs_it_out_and_tells_its_client(
    idp_with_backchannel, new_browser, backchannel_receiver
):
    idp = idp_with_backchannel
    laptop = new_browser(FIREFOX_LINUX)
    sign_in(laptop, idp)
    tokens = use_client(laptop, idp)
    phone = new_browser(CHROME_ANDROID)
    sign_in(phone, idp)

    phone.goto(f"{idp.url}/sessions/")
    expect(phone.locator("li.session")).to_have_count(2)
    mine = phone.locator("li.session.current")
    expect(mine).to_contain_text("Chrome Mobile 128 on Android 14")
    expect(mine.locator(".this-device")).to_have_text("this device")
    expect(mine.locator("button")).to_have_count(0)  # this browser signs out with the logout page
    other = session_row(phone, "Firefox 130 on Linux")
    expect(other).to_contain_text("Browser RP")
    expect(other).to_contain_text("127.0.0.1")
    laptop_sid = other.get_attribute("data-sid")

    other.locator("button.end-session").click()
    expect(phone).to_have_url(f"{idp.url}/sessions/")
    expect(phone.locator("li.session")).to_have_count(1)
    expect(phone.locator("#no-other-sessions")).to_be_visible()

    assert UserSession.objects.get(sid=laptop_sid).end_reason == EndReason.REMOTE_LOGOUT
    (post,) = wait_for_posts(backchannel_receiver, "/bc", 1)
    claims = json.loads(jwt.JWT(jwt=post.form["logout_token"][0]).token.objects["payload"])
    assert claims["sid"] == laptop_sid and claims["aud"] == idp.application.client_id
    # The client's refresh token no longer works, and the laptop is signed out on its next request.
    refresh = requests.post(
        f"{idp.url}/o/token/",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": idp.application.client_id,
            "client_secret": idp.application.client_secret,
        },
        timeout=10,
    )
    assert refresh.json()["error"] == "invalid_grant"
    assert not signed_in(laptop, idp)
    assert signed_in(phone, idp)


def test_sign_out_everywhere_else(idp_with_backchannel, new_browser, backchannel_receiver):
    idp = idp_with_backchannel
    browsers = [new_browser(agent) for agent in (FIREFOX_LINUX, EDGE_WINDOWS, CHROME_ANDROID)]
    for page in browsers:
        sign_in(page, idp)
    use_client(browsers[0], idp)
    use_client(browsers[1], idp)
    here = browsers[2]
    here.goto(f"{idp.url}/sessions/")
    expect(here.locator("li.session")).to_have_count(3)
    here.click("#end-others")
    expect(here.locator("li.session")).to_have_count(1)
    expect(here.locator("li.session.current")).to_have_count(1)
    assert len(wait_for_posts(backchannel_receiver, "/bc", 2)) == 2
    assert [signed_in(page, idp) for page in browsers] == [False, False, True]


def test_hostile_user_agent_is_shown_as_text_never_run(live_idp, new_browser):
    hostile = new_browser('<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> Firefox/130.0')
    sign_in(hostile, live_idp)
    UserSession.objects.filter(user=live_idp.user).update(browser='<img src=x onerror="window.pwned=3">')
    viewer = new_browser(FIREFOX_LINUX)
    sign_in(viewer, live_idp)
    viewer.goto(f"{live_idp.url}/sessions/")
    expect(viewer.locator("li.session")).to_have_count(2)
    expect(viewer.locator("main")).to_contain_text('<img src=x onerror="window.pwned=3">')
    assert viewer.evaluate("window.pwned") is None
    assert viewer.locator("main img").count() == 0


def test_limit_end_oldest_signs_the_least_recently_active_browser_out(live_idp, new_browser, settings):
    settings.IDP_LOGOUT = {"MAX_SESSIONS_PER_USER": 2, "SESSION_LIMIT_POLICY": "end_oldest"}
    oldest, recent, newest = (new_browser(agent) for agent in (FIREFOX_LINUX, EDGE_WINDOWS, CHROME_ANDROID))
    sign_in(oldest, live_idp)
    sign_in(recent, live_idp)
    UserSession.objects.filter(browser="Firefox 130").update(last_activity="2020-01-01T00:00:00Z")
    sign_in(newest, live_idp)
    assert [signed_in(page, live_idp) for page in (oldest, recent, newest)] == [False, True, True]
    assert UserSession.objects.get(browser="Firefox 130").end_reason == EndReason.SESSION_LIMIT


def test_limit_deny_new_keeps_the_new_browser_out_and_says_why(live_idp, new_browser, settings):
    settings.IDP_LOGOUT = {"MAX_SESSIONS_PER_USER": 1, "SESSION_LIMIT_POLICY": "deny_new"}
    first, second = new_browser(FIREFOX_LINUX), new_browser(CHROME_ANDROID)
    sign_in(first, live_idp)
    second.goto(f"{live_idp.url}/accounts/login/?next=/")
    second.fill("#id_username", live_idp.user.get_username())
    second.fill("#id_password", live_idp.password)
    second.click("#login-submit")
    expect(second).to_have_url(f"{live_idp.url}/sessions/limit/")
    expect(second.locator("h1")).to_have_text("You are signed in on too many devices")
    expect(second.locator("main")).to_contain_text("Sign out on one of your other devices")
    assert not signed_in(second, live_idp)
    assert signed_in(first, live_idp)
    assert UserSession.objects.filter(user=live_idp.user).count() == 1


def test_screenshots_of_the_sessions_pages(live_idp, new_browser, settings, tmp_path):
    """The pictures in docs/sessions.md. Also a check that both pages render and fit a phone-sized
    window without horizontal scrolling."""
    target = Path(os.environ.get("IDP_SCREENSHOTS_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    laptop = new_browser(FIREFOX_LINUX)
    sign_in(laptop, live_idp)
    use_client(laptop, live_idp)
    work = new_browser(EDGE_WINDOWS)
    sign_in(work, live_idp)
    phone = new_browser(CHROME_ANDROID)
    sign_in(phone, live_idp)
    UserSession.objects.filter(browser="Firefox 130").update(ip_address="198.51.100.23")
    UserSession.objects.filter(browser="Edge 129").update(ip_address="2001:db8:85a3::8a2e:370:7334")
    phone.goto(f"{live_idp.url}/sessions/")
    expect(phone.locator("li.session")).to_have_count(3)
    phone.screenshot(path=str(target / "sessions.png"), full_page=True)

    settings.IDP_LOGOUT = {"MAX_SESSIONS_PER_USER": 3, "SESSION_LIMIT_POLICY": "deny_new"}
    refused = new_browser(FIREFOX_LINUX)
    refused.goto(f"{live_idp.url}/accounts/login/?next=/")
    refused.fill("#id_username", live_idp.user.get_username())
    refused.fill("#id_password", live_idp.password)
    refused.click("#login-submit")
    expect(refused).to_have_url(re.compile(r"/sessions/limit/$"))
    refused.screenshot(path=str(target / "session-limit.png"), full_page=True)
    for page in (phone, refused):
        page.set_viewport_size({"width": 390, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert (target / "sessions.png").stat().st_size > 10_000
    assert (target / "session-limit.png").stat().st_size > 5_000
