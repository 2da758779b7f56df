"""The logged-out page says what happened, in a real headless Chromium: each client by name, its
front-channel iframe loaded or timed out, its back-channel notification sent or still being retried
(polled from the logout status view, under the page's own Content-Security-Policy), and then a finished
state, also when no redirect follows and a client is dead.
"""

from __future__ import annotations

import socket
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.test_frontchannel_browser import (  # noqa: F401  (fixture)
    authorize,
    confirm_logout,
    frontchannel_server,
    session_of,
)

pytestmark = pytest.mark.browser


def closed_port_url(path: str) -> str:
    """A URL on 127.0.0.1 where nothing listens: connection refused, a dead client."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def channel(page, client_id: str, name: str):
    return page.locator(f'.logout-client[data-client-id="{client_id}"] [data-channel="{name}"]')


def test_logged_out_page_reaches_its_finished_state_with_a_slow_and_a_dead_client(
    page,
    live_idp,
    settings,
    application_factory,
    logout_settings_factory,
    frontchannel_server,  # noqa: F811
    backchannel_receiver,
):
    idp = live_idp
    settings.IDP_LOGOUT = {
        "FRONTCHANNEL_TIMEOUT": 3,
        "BACKCHANNEL_DELIVERY": "thread",
        "BACKCHANNEL_TIMEOUT": 2,
        "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True,
    }
    slow_frames = frontchannel_server(delays={"/fc": 1.5})
    dead_frames = frontchannel_server(hang=("/fc",))
    backchannel_receiver.on("/shop", delay=1.5)
    shop = application_factory(
        name="Shop", client_id="shop", redirect_uris=idp.redirect_uri, skip_authorization=True
    )
    wiki = application_factory(
        name="Wiki", client_id="wiki", redirect_uris=idp.redirect_uri, skip_authorization=True
    )
    logout_settings_factory(
        shop,
        frontchannel_logout_uri=slow_frames.url("/fc"),
        backchannel_logout_uri=backchannel_receiver.url("/shop"),
    )
    logout_settings_factory(
        wiki, frontchannel_logout_uri=dead_frames.url("/fc"), backchannel_logout_uri=closed_port_url("/bc")
    )

    sign_in(page, idp)
    authorize(page, idp, shop)
    authorize(page, idp, wiki)
    user_session = session_of(idp)

    # The user signs out at the identity provider itself: no client to return to, so the page stays.
    page.goto(f"{idp.url}/logout/")
    started = time.monotonic()
    logged_out = confirm_logout(page)
    assert logged_out.status == 200
    csp = logged_out.headers["content-security-policy"]
    assert "connect-src 'self'" in csp
    html = logged_out.text()
    assert 'data-channel="frontchannel" data-state="pending"' in html  # the script does the rest

    # While the slow client is still loading, the page says it is working on it.
    expect(page.locator("#frontchannel-status")).to_have_text("Signing you out of the applications you used…")
    expect(page.locator(".logout-client-name")).to_have_text(["Shop", "Wiki"])

    # Then the finished state, with what happened to each client.
    expect(page.locator("#logout-finished")).to_be_visible(timeout=10_000)
    elapsed = time.monotonic() - started
    expect(page.locator("#logout-finished")).to_have_text("You are signed out of Shop and Wiki.")
    expect(page.locator("#frontchannel-status")).to_be_hidden()
    expect(page.locator("#logout-progress")).to_have_attribute("data-state", "finished")
    expect(channel(page, "shop", "frontchannel")).to_have_attribute("data-state", "loaded")
    expect(channel(page, "shop", "frontchannel")).to_have_text(
        "signed out in this browser", use_inner_text=True
    )
    expect(channel(page, "shop", "backchannel")).to_have_attribute("data-state", "sent")
    expect(channel(page, "shop", "backchannel")).to_have_text("its server was notified", use_inner_text=True)
    expect(channel(page, "wiki", "frontchannel")).to_have_attribute("data-state", "timeout")
    expect(channel(page, "wiki", "frontchannel")).to_have_text(
        "did not answer in this browser in time", use_inner_text=True
    )
    expect(channel(page, "wiki", "backchannel")).to_have_attribute("data-state", "retrying")
    # Not before the dead iframe had its FRONTCHANNEL_TIMEOUT, and not much after it either.
    assert 2.9 <= elapsed < 9, f"finished after {elapsed:.1f} s"

    # What the page showed is what happened: the slow client got its logout token, the dead one's
    # notification waits in the outbox for its next attempt.
    (post,) = backchannel_receiver.posts_to("/shop")
    assert list(post.form) == ["logout_token"]
    assert len(dead_frames.gets()) == 1 and len(slow_frames.gets()) == 1
    user_session.refresh_from_db()
    assert user_session.ended_at is not None
    states = dict(user_session.notifications.values_list("application__client_id", "status"))
    assert states == {"shop": "delivered", "wiki": "pending"}
