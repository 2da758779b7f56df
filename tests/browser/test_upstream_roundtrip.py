"""A real upstream identity provider, over real HTTP: the round trip that tests/test_external_logout.py
and tests/test_upstream_logout.py simulate.

- The UPSTREAM ("corp") is this repository's example project in a subprocess on 127.0.0.1
  (tests/upstream_harness.py), with OUR provider registered there as its client ``idp-at-corp``.
- OUR provider is pytest-django's live server, signing users in through the upstream with
  mozilla-django-oidc (a subclass of its backend), and serving its own client ``roundtrip-rp``
  whose back-channel logout URI is a recording receiver.
- Chromium (Debian's) drives the browser; the upstream's database is read to see what it did.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from http import HTTPStatus
from importlib import import_module
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.urls import reverse
from jwcrypto import jwk, jwt
from oauth2_provider.models import get_access_token_model, get_id_token_model, get_refresh_token_model
from oauth2_provider.utils import jwk_from_pem
from playwright.sync_api import expect

from django_idp_logout.models import BackchannelNotification, EndReason, UpstreamLogoutToken, UserSession
from django_idp_logout.rp import jwks as rp_jwks
from django_idp_logout.services.external import is_upstream_backend
from tests.keys import pem
from tests.upstream_harness import (
    BACKEND_PATH,
    CLIENT_ID,
    PASSWORD,
    USERNAME,
    CorpOIDCBackend,
    Upstream,
    unverified_claims,
)

pytestmark = pytest.mark.browser

URLCONF = "tests.urls_upstream"
TIMEOUT_MS = 10_000
RP_CLIENT_ID = "roundtrip-rp"
RP_BACKCHANNEL_PATH = "/roundtrip-rp/backchannel"


# --- Fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream(live_server, tmp_path_factory):
    """The upstream provider, started once per module after the live server (its URL is in the
    upstream's registration of our provider); killed at the end of the module."""
    ours = live_server.url
    corp = Upstream.start(
        tmp_path_factory.mktemp("upstream"),
        redirect_uri=ours + reverse("oidc_authentication_callback", urlconf=URLCONF),
        post_logout_redirect_uri=ours + reverse("idp_logout:external_logout_callback", urlconf=URLCONF),
        backchannel_logout_uri=ours + reverse("idp_logout:upstream_backchannel_logout", urlconf=URLCONF),
    )
    yield corp
    corp.stop()


class Ours:
    """Our provider on the live server, as its client ``roundtrip-rp`` and the user see it."""

    def __init__(self, url, application, receiver):
        self.url = url
        self.application = application
        self.receiver = receiver

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    @property
    def redirect_uri(self) -> str:
        return f"{self.url}/demo-client/callback/"

    @property
    def post_logout_uri(self) -> str:
        return f"{self.url}/demo-client/signed-out/"

    def end_session_url(self, **params) -> str:
        return f"{self.url}{reverse('idp_logout:end_session')}?{urlencode(params)}"

    def logout_tokens(self) -> list[dict]:
        """The logout tokens our RP received, verified with our provider's signing key."""
        key = jwk_from_pem(pem("active"))
        claims = []
        for received in self.receiver.posts_to(RP_BACKCHANNEL_PATH):
            (raw,) = received.form["logout_token"]
            token = jwt.JWT(jwt=raw, key=key, algs=["RS256"], check_claims=False)
            claims.append(jwt.json_decode(token.claims))
        return claims


@pytest.fixture
def ours(
    live_server,
    upstream,
    settings,
    transactional_db,
    application_factory,
    logout_settings_factory,
    backchannel_receiver,
):
    settings.ROOT_URLCONF = URLCONF
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", BACKEND_PATH]
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = CLIENT_ID, upstream.client_secret
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_RP_SCOPES = "openid"
    settings.OIDC_USE_PKCE = True  # the upstream (example project) requires PKCE
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = upstream.endpoint("authorize/")
    settings.OIDC_OP_TOKEN_ENDPOINT = upstream.endpoint("token/")
    settings.OIDC_OP_USER_ENDPOINT = upstream.endpoint("userinfo/")
    settings.OIDC_OP_JWKS_ENDPOINT = upstream.endpoint(".well-known/jwks.json")
    settings.OIDC_STORE_ID_TOKEN = True
    settings.OIDC_CREATE_USER = True
    settings.LOGIN_REDIRECT_URL = settings.LOGOUT_REDIRECT_URL = "/"
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": f"{live_server.url}/o"}
    settings.IDP_LOGOUT = {
        "UPSTREAM_END_SESSION_ENDPOINT": f"{upstream.url}/end-session/",
        "UPSTREAM_ISSUER": upstream.issuer,
        "COORDINATE_LIFETIME_WITH_USER_SESSION": True,
        "BACKCHANNEL_DELIVERY": "sync",
        "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True,
    }
    rp_jwks.clear_cache()  # each test fetches the upstream's JWKS itself
    application = application_factory(
        name="Round-trip RP",
        client_id=RP_CLIENT_ID,
        redirect_uris=f"{live_server.url}/demo-client/callback/",
        post_logout_redirect_uris=f"{live_server.url}/demo-client/signed-out/",
    )
    logout_settings_factory(application, backchannel_logout_uri=backchannel_receiver.url(RP_BACKCHANNEL_PATH))
    yield Ours(live_server.url, application, backchannel_receiver)
    rp_jwks.clear_cache()


# --- Helpers -------------------------------------------------------------------------------------------


def sign_in_through_upstream(
    page, ours: Ours, upstream: Upstream, *, upstream_form: bool = True
) -> UserSession:
    """mozilla-django-oidc's login at our provider, against the upstream, as a user does it."""
    page.goto(f"{ours.url}{reverse('oidc_authentication_init')}")
    if upstream_form:
        page.wait_for_url(re.compile(rf"^{re.escape(upstream.url)}/accounts/login/\?next="))
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click("#login-submit")
    page.wait_for_url(f"{ours.url}/")
    expect(page.locator("main")).to_contain_text("Signed in as corp-")
    return UserSession.objects.active().get()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def rp_tokens(page, ours: Ours) -> dict:
    """The code flow of our RP in the browser (its redirect caught), the code exchanged over HTTP."""
    verifier, challenge = pkce_pair()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": RP_CLIENT_ID,
            "redirect_uri": ours.redirect_uri,
            "scope": "openid",
            "state": "rp-state",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    authorize = f"{ours.url}{reverse('oauth2_provider:authorize')}"
    callbacks = []

    def stop_at_redirect(route):
        # The browser's own authorization request (its cookies), but its redirect is not followed:
        # the test plays the client and takes the code from the Location header.
        response = route.fetch(max_redirects=0)
        callbacks.append(response.headers.get("location", ""))
        route.fulfill(status=200, content_type="text/plain", body="redirect caught by the test")

    page.route(f"{authorize}?*", stop_at_redirect)
    try:
        page.goto(f"{authorize}?{query}")
    finally:
        page.unroute(f"{authorize}?*")
    (callback,) = callbacks
    assert callback.startswith(f"{ours.redirect_uri}?"), callback
    params = parse_qs(urlsplit(callback).query)
    assert params.get("state") == ["rp-state"], params
    response = requests.post(
        f"{ours.url}{reverse('oauth2_provider:token')}",
        data={
            "grant_type": "authorization_code",
            "code": params["code"][0],
            "redirect_uri": ours.redirect_uri,
            "client_id": RP_CLIENT_ID,
            "client_secret": ours.application.client_secret,
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert response.status_code == HTTPStatus.OK, response.text
    return response.json()


def refresh(ours: Ours, tokens: dict) -> requests.Response:
    return requests.post(
        f"{ours.url}{reverse('oauth2_provider:token')}",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": RP_CLIENT_ID,
            "client_secret": ours.application.client_secret,
        },
        timeout=10,
    )


def assert_rp_tokens_revoked(ours: Ours, tokens: dict) -> None:
    """Coordinated tokens of the ended session: gone from the database, and refused over HTTP."""
    app = ours.application
    assert not get_access_token_model().objects.filter(application=app).exists()
    assert not get_id_token_model().objects.filter(application=app).exists()
    assert not get_refresh_token_model().objects.filter(application=app, revoked__isnull=True).exists()
    response = refresh(ours, tokens)
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.text
    assert response.json()["error"] == "invalid_grant"
    userinfo = requests.get(
        f"{ours.url}{reverse('oauth2_provider:user-info')}",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == HTTPStatus.UNAUTHORIZED


def our_django_session(context, ours: Ours) -> SessionBase | None:
    """The Django session of our provider behind the browser's cookie (None: no cookie)."""
    name = django_settings.SESSION_COOKIE_NAME
    cookie = next((c for c in context.cookies(ours.url) if c["name"] == name), None)
    if cookie is None:
        return None
    return import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=cookie["value"])


def home_text(context, url: str) -> str:
    """A home page (ours or the upstream's) as another tab of the same browser sees it."""
    tab = context.new_page()
    try:
        tab.goto(f"{url}/")
        return tab.locator("main").inner_text()
    finally:
        tab.close()


def upstream_silent_authorize(page, ours: Ours, upstream: Upstream) -> dict:
    """``prompt=none`` at the upstream for our provider: the parameters it answers with."""
    _, challenge = pkce_pair()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": ours.url + reverse("oidc_authentication_callback"),
            "scope": "openid",
            "state": "silent",
            "prompt": "none",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    with page.expect_response(lambda r: r.url.startswith(upstream.endpoint("authorize/"))) as answer:
        page.goto(f"{upstream.endpoint('authorize/')}?{query}")
    response = answer.value
    assert response.status == HTTPStatus.FOUND, response.status
    return parse_qs(urlsplit(response.headers["location"]).query)


def hop(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# --- Tests ---------------------------------------------------------------------------------------------


def test_full_round_trip_in_a_browser(page, browser_context, ours, upstream):
    started = time.monotonic()
    our_session = sign_in_through_upstream(page, ours, upstream)
    # The login went through mozilla's backend subclass, and what the return trip needs was captured.
    django_session = our_django_session(browser_context, ours)
    assert django_session[BACKEND_SESSION_KEY] == BACKEND_PATH and is_upstream_backend(BACKEND_PATH)
    id_token_claims = unverified_claims(our_session.upstream_id_token)
    assert our_session.upstream_issuer == upstream.issuer == id_token_claims["iss"]
    assert our_session.upstream_sid and our_session.upstream_sid == id_token_claims["sid"]
    assert our_session.upstream_sub == id_token_claims["sub"]
    assert our_session.user.username == CorpOIDCBackend.username_for(our_session.upstream_sub)
    corp_session = upstream.session(our_session.upstream_sid)
    assert corp_session["username"] == USERNAME and corp_session["ended_at"] is None
    assert CLIENT_ID in corp_session["client_ids"]
    upstream_id_token = our_session.upstream_id_token

    tokens = rp_tokens(page, ours)
    assert unverified_claims(tokens["id_token"])["sid"] == our_session.sid
    refreshed = refresh(ours, tokens)  # live before the logout (the refresh token rotates)
    assert refreshed.status_code == HTTPStatus.OK, refreshed.text
    tokens = {**tokens, **refreshed.json()}

    hops = []
    page.on(
        "request",
        lambda request: (
            hops.append(request.url)
            if request.is_navigation_request() and request.frame == page.main_frame
            else None
        ),
    )
    page.goto(
        ours.end_session_url(
            id_token_hint=tokens["id_token"], post_logout_redirect_uri=ours.post_logout_uri, state="rt1"
        )
    )
    page.wait_for_url(f"{ours.post_logout_uri}?state=rt1")
    expect(page.locator("#client-signed-out")).to_be_visible()
    expect(page.locator("#returned-state")).to_have_text("rt1")
    # The upstream's own back-channel logout to us has been answered: nothing of ours is busy now.
    delivery = upstream.wait_for_delivery(our_session.upstream_sid)

    # No prompt anywhere (both hints belong to their browser sessions), and every hop in order.
    callback = ours.url + reverse("idp_logout:external_logout_callback")
    assert [hop(url) for url in hops] == [
        f"{ours.url}/end-session/",
        f"{ours.url}/logout/",
        f"{upstream.url}/end-session/",
        f"{upstream.url}/logout/",
        f"{upstream.url}/logged-out/",
        callback,
        f"{ours.url}/logged-out/",
        ours.post_logout_uri,
    ], hops
    to_upstream = parse_qs(urlsplit(hops[2]).query)
    assert to_upstream["id_token_hint"] == [upstream_id_token]
    assert to_upstream["post_logout_redirect_uri"] == [callback]
    assert parse_qs(urlsplit(hops[5]).query)["state"] == to_upstream["state"]

    # Our session ended (user logout), its coordinated tokens are revoked, our RP was told once.
    our_session.refresh_from_db()
    assert our_session.ended_at is not None and our_session.end_reason == EndReason.USER_LOGOUT
    assert our_session.upstream_id_token == ""
    assert_rp_tokens_revoked(ours, tokens)
    (logout_token,) = ours.logout_tokens()
    assert logout_token["iss"] == ours.issuer and logout_token["aud"] == RP_CLIENT_ID
    assert logout_token["sid"] == our_session.sid and logout_token["logout_reason"] == "user_logout"
    assert "Signed in as" not in home_text(browser_context, ours.url)

    # The upstream signed the user out too, and told us (our session was already over: nothing more).
    corp_session = upstream.session(our_session.upstream_sid)
    assert corp_session["ended_at"] is not None and corp_session["end_reason"] == "user_logout"
    assert (delivery.status, delivery.last_status_code, delivery.reason) == ("delivered", 200, "user_logout")
    assert UpstreamLogoutToken.objects.count() == 1
    assert len(ours.logout_tokens()) == 1
    assert "Signed in as" not in home_text(browser_context, upstream.url)
    assert upstream_silent_authorize(page, ours, upstream)["error"] == ["login_required"]
    assert time.monotonic() - started < 30


def test_upstream_backchannel_logout_ends_our_session(page, browser_context, ours, upstream):
    our_session = sign_in_through_upstream(page, ours, upstream)
    tokens = rp_tokens(page, ours)
    assert "Signed in as corp-" in home_text(browser_context, ours.url)

    # The user signs out AT THE UPSTREAM, on its own logout page.
    page.goto(f"{upstream.url}/logout/")
    expect(page.locator("h1")).to_have_text("Do you want to sign out?")
    started = time.monotonic()
    page.click("#logout-confirm")
    page.wait_for_url(re.compile(rf"^{re.escape(upstream.url)}/logged-out/"))

    # Its back-channel logout token reached our endpoint over HTTP and was accepted within seconds.
    delivery = upstream.wait_for_delivery(our_session.upstream_sid, timeout=10)
    assert time.monotonic() - started < 10
    assert (delivery.status, delivery.last_status_code, delivery.reason) == ("delivered", 200, "user_logout")
    our_session.refresh_from_db()
    assert our_session.ended_at is not None and our_session.end_reason == EndReason.UPSTREAM_LOGOUT
    assert_rp_tokens_revoked(ours, tokens)
    (logout_token,) = ours.logout_tokens()
    assert logout_token["aud"] == RP_CLIENT_ID and logout_token["sid"] == our_session.sid
    assert logout_token["logout_reason"] == "upstream_logout"
    assert BackchannelNotification.objects.get().status == "delivered"

    # The browser's session at our provider is dead on its next request.
    page.goto(f"{ours.url}/")
    expect(page.locator("main")).not_to_contain_text("Signed in as")
    django_session = our_django_session(browser_context, ours)
    assert django_session is None or "_auth_user_id" not in django_session.load()


def test_bad_upstream_tokens_from_a_real_jwks(page, ours, upstream):
    first = sign_in_through_upstream(page, ours, upstream)
    sid, sub = first.upstream_sid, first.upstream_sub
    backchannel = ours.url + reverse("idp_logout:upstream_backchannel_logout")

    def post(token):
        return requests.post(backchannel, data={"logout_token": token}, timeout=10)

    # A good token, verified with the key fetched from the upstream's JWKS, ends the session...
    used = upstream.logout_token(sid=sid, sub=sub)
    assert post(used).status_code == HTTPStatus.OK
    first.refresh_from_db()
    assert first.end_reason == EndReason.UPSTREAM_LOGOUT
    # ...and the same browser signs in again from the same upstream session (same upstream sid).
    second = sign_in_through_upstream(page, ours, upstream, upstream_form=False)
    assert (second.upstream_sid, second.upstream_sub) == (sid, sub) and second.pk != first.pk

    # Not in the upstream's JWKS; its tokens carry the published kid, so only the signature check refuses them.
    foreign = jwk.JWK.generate(kty="RSA", size=2048)
    now = int(time.time())
    attacks = {
        "expired": (upstream.logout_token(sid=sid, sub=sub, iat=now - 900, exp=now - 600), "expired"),
        "replayed": (used, "already used"),
        "foreign_key": (upstream.logout_token(sid=sid, sub=sub, key=foreign), "signature does not verify"),
        "wrong_aud": (upstream.logout_token(sid=sid, sub=sub, aud="someone-else"), "aud"),
    }
    for name, (token, reason) in attacks.items():
        response = post(token)
        assert response.status_code == HTTPStatus.BAD_REQUEST, (name, response.text)
        assert response.json()["error"] == "invalid_request", name
        assert reason in response.json()["error_description"], (name, response.json())
        second.refresh_from_db()
        assert second.ended_at is None, name
    assert not BackchannelNotification.objects.filter(user_session=second).exists()
    assert UpstreamLogoutToken.objects.count() == 1
    page.goto(f"{ours.url}/")
    expect(page.locator("main")).to_contain_text("Signed in as corp-")
