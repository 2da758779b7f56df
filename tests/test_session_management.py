"""OpenID Connect Session Management 1.0: ``session_state`` in authorization responses, the OP browser-state
cookie it is computed from, the check_session_iframe page and its discovery entry.

The oracle for ``session_state`` is the spec's own formula, written out here with hashlib: what an RP's
copy of the spec's example iframe would compute from the cookie the browser holds.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core.checks import Error
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_application_model, get_grant_model

from django_idp_logout.checks import check_session_management
from django_idp_logout.models import EndReason, SessionToken, UserSession
from django_idp_logout.services import sessions
from django_idp_logout.services.client_origins import forget_registered_origins
from django_idp_logout.services.session_state import origin_of, session_state_matches
from tests.conftest import REDIRECT_URI, end_session_url, pkce_challenge

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:The OAuth 2.0 implicit grant:DeprecationWarning"),
]

Application = get_application_model()
COOKIE = "idp_logout_browser_state"
RP_ORIGIN = "https://rp.example.com"
IFRAME = "idp_logout:check_session_iframe"


@pytest.fixture(autouse=True)
def fresh_origin_cache():
    forget_registered_origins()
    yield
    forget_registered_origins()


def spec_session_state(client_id: str, origin: str, browser_state: str, salt: str) -> str:
    """OIDC Session Management 1.0 section 3: the example's computation, independent of our code."""
    return hashlib.sha256(f"{client_id} {origin} {browser_state} {salt}".encode()).hexdigest() + "." + salt


def authorize(browser, application, *, response_type="code", scope="openid", secure=False, **extra):
    """The authorize endpoint, signed in; returns the redirect's response parameters (query or fragment)."""
    params = {
        "response_type": response_type,
        "client_id": application.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "st",
        "nonce": "n-1",
        **extra,
    }
    if "code" in response_type.split():
        params.update(code_challenge=pkce_challenge("v" * 50), code_challenge_method="S256")
    response = browser.get(f"{reverse('oauth2_provider:authorize')}?{urlencode(params)}", secure=secure)
    assert response.status_code == HTTPStatus.FOUND, response.content[:500]
    location = urlsplit(response["Location"])
    component = location.fragment or location.query
    return {key: values[0] for key, values in parse_qs(component, keep_blank_values=True).items()}, response


def cookie_value(browser) -> str:
    morsel = browser.cookies.get(COOKIE)
    return morsel.value if morsel is not None else ""


def still_matches(browser, application, session_state: str) -> bool:
    """What the iframe would answer now ("unchanged" when True), from the browser's cookie."""
    salt = session_state.rpartition(".")[2]
    return spec_session_state(application.client_id, RP_ORIGIN, cookie_value(browser), salt) == session_state


def sign_out_on_the_logout_page(browser) -> None:
    start = browser.get(end_session_url())
    page = browser.get(start["Location"])
    logout_id = page.context["form"].initial["logout_id"]
    response = browser.post(reverse("idp_logout:logout"), {"logout_id": logout_id, "confirm": "yes"})
    assert response.status_code == HTTPStatus.FOUND


# --- session_state in the authorization response ------------------------------------------------------


def test_session_state_recomputed_from_the_cookie_equals_the_one_returned(client, user, application):
    client.force_login(user)
    params, response = authorize(client, application)
    assert "code" in params
    digest, _, salt = params["session_state"].rpartition(".")
    assert re.fullmatch(r"[0-9a-f]{64}", digest) and re.fullmatch(r"[0-9a-f]{32}", salt)
    # The same response gives the browser the cookie the value was computed from.
    assert COOKIE in response.cookies
    assert params["session_state"] == spec_session_state(
        application.client_id, RP_ORIGIN, cookie_value(client), salt
    )
    assert session_state_matches(
        params["session_state"],
        client_id=application.client_id,
        origin=RP_ORIGIN,
        browser_state=cookie_value(client),
    )


def test_each_response_has_its_own_salt_and_all_stay_valid(client, user, application):
    client.force_login(user)
    first, _ = authorize(client, application)
    second, _ = authorize(client, application)
    assert first["session_state"] != second["session_state"]
    assert still_matches(client, application, first["session_state"])
    assert still_matches(client, application, second["session_state"])


def test_cookie_is_an_hmac_of_the_session_never_the_sid(client, user, application):
    client.force_login(user)
    authorize(client, application)
    sid = UserSession.objects.get(user=user).sid
    value = cookie_value(client)
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert sid not in value and value not in client.session.session_key


@pytest.mark.parametrize(
    ("grant_type", "response_type"),
    [
        (Application.GRANT_IMPLICIT, "id_token"),
        (Application.GRANT_IMPLICIT, "id_token token"),
        (Application.GRANT_OPENID_HYBRID, "code id_token"),
        (Application.GRANT_OPENID_HYBRID, "code token"),
        (Application.GRANT_OPENID_HYBRID, "code id_token token"),
    ],
)
def test_implicit_and_hybrid_responses_carry_it_in_the_fragment(
    client, user, application_factory, grant_type, response_type
):
    application = application_factory(
        authorization_grant_type=grant_type, client_type=Application.CLIENT_PUBLIC
    )
    client.force_login(user)
    params, response = authorize(client, application, response_type=response_type)
    location = urlsplit(response["Location"])
    assert "session_state" not in parse_qs(location.query)
    assert params["state"] == "st" and "session_state" in params
    assert still_matches(client, application, params["session_state"])


def test_fragment_response_mode_of_the_code_flow_carries_it_in_the_fragment(client, user, application):
    client.force_login(user)
    params, response = authorize(client, application, response_mode="fragment")
    location = urlsplit(response["Location"])
    assert "code" in parse_qs(location.fragment)  # oauthlib honours response_mode=fragment
    assert "session_state" in parse_qs(location.fragment)
    assert "session_state" not in parse_qs(location.query)
    assert still_matches(client, application, params["session_state"])


def test_the_consent_form_post_carries_it_too(client, user, application_factory):
    application = application_factory(skip_authorization=False)
    client.force_login(user)
    verifier = "w" * 50
    form = {
        "client_id": application.client_id,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid",
        "state": "st",
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
        "allow": "Authorize",
    }
    response = client.post(reverse("oauth2_provider:authorize"), form)
    assert response.status_code == HTTPStatus.FOUND, response.content[:300]
    params = parse_qs(urlsplit(response["Location"]).query)
    assert still_matches(client, application, params["session_state"][0])


def test_plain_oauth_requests_and_errors_get_no_session_state(client, user, application, application_factory):
    client.force_login(user)
    params, _ = authorize(client, application, scope="profile email")
    assert "code" in params and "session_state" not in params
    consent = application_factory(skip_authorization=False)
    params, _ = authorize(client, consent, prompt="none")
    assert params["error"] == "consent_required" and "session_state" not in params


def test_anonymous_prompt_none_gets_login_required_without_session_state(client, application):
    params, _ = authorize(client, application, prompt="none")
    assert params["error"] == "login_required" and "session_state" not in params


def test_origin_comes_from_the_redirect_uri_with_its_port(client, user, application_factory):
    redirect = "https://rp.example.com:8443/callback"
    application = application_factory(redirect_uris=redirect)
    client.force_login(user)
    params, _ = authorize(client, application, redirect_uri=redirect)
    salt = params["session_state"].rpartition(".")[2]
    expected = spec_session_state(
        application.client_id, "https://rp.example.com:8443", cookie_value(client), salt
    )
    assert params["session_state"] == expected


def test_native_app_redirect_without_an_origin_gets_none(client, user, application_factory, settings):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https", "com.example.app"],
    }
    redirect = "com.example.app:/callback"
    application = application_factory(redirect_uris=redirect, client_type=Application.CLIENT_PUBLIC)
    client.force_login(user)
    params, _ = authorize(client, application, redirect_uri=redirect)
    assert "code" in params and "session_state" not in params


# --- the browser state changes when the session ends or a new one starts ------------------------------


def _end_by_operator(browser, user_session):
    sessions.end_session(user_session=user_session, reason=EndReason.TERMINATED)
    browser.get("/")


def _end_by_idle_expiry(browser, user_session):
    UserSession.objects.filter(pk=user_session.pk).update(last_activity="2000-01-01T00:00:00Z")
    browser.get("/")


def _end_by_auth_logout_elsewhere(browser, user_session):
    # Django's own logout view: any code path that calls django.contrib.auth.logout.
    response = browser.post(reverse("logout"))
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.FOUND)


def _end_by_password_change_elsewhere(browser, user_session):
    user = user_session.user
    user.set_password("a-new-password")
    user.save()
    browser.get("/")


@pytest.mark.parametrize(
    "end",
    [
        pytest.param(lambda browser, _: sign_out_on_the_logout_page(browser), id="logout-page"),
        pytest.param(_end_by_auth_logout_elsewhere, id="auth-logout"),
        pytest.param(_end_by_operator, id="operator"),
        pytest.param(_end_by_idle_expiry, id="idle-expiry"),
        pytest.param(_end_by_password_change_elsewhere, id="password-change"),
    ],
)
def test_session_state_no_longer_matches_after_the_session_ended(client, user, application, settings, end):
    settings.IDP_LOGOUT = {"SESSION_IDLE_TIMEOUT": 3600}
    client.force_login(user)
    params, _ = authorize(client, application)
    assert still_matches(client, application, params["session_state"])
    user_session = UserSession.objects.get(user=user)
    end(client, user_session)
    user_session.refresh_from_db()
    assert user_session.ended_at is not None
    assert cookie_value(client) == ""  # deleted by the response that followed the end
    assert not still_matches(client, application, params["session_state"])


def test_a_new_login_changes_the_browser_state(client, user, application):
    client.force_login(user)
    before, _ = authorize(client, application)
    first_state = cookie_value(client)
    sign_out_on_the_logout_page(client)
    client.force_login(user)
    after, _ = authorize(client, application)
    assert cookie_value(client) not in ("", first_state)
    assert not still_matches(client, application, before["session_state"])
    assert still_matches(client, application, after["session_state"])


def test_another_browser_of_the_same_user_has_another_state(user, application):
    one, two = Client(), Client()
    one.force_login(user)
    two.force_login(user)
    params, _ = authorize(one, application)
    authorize(two, application)
    assert cookie_value(one) != cookie_value(two)
    assert not still_matches(two, application, params["session_state"])


def test_anonymous_visitors_get_no_cookie(client, db):
    response = client.get(reverse(IFRAME))
    assert COOKIE not in response.cookies


@pytest.mark.parametrize(("secure", "samesite", "secure_flag"), [(False, "Lax", ""), (True, "None", True)])
def test_cookie_is_readable_by_script_and_third_party_on_https(
    client, user, application, secure, samesite, secure_flag
):
    client.force_login(user)
    _, response = authorize(client, application, secure=secure)
    morsel = response.cookies[COOKIE]
    assert morsel["httponly"] == ""  # the iframe's script reads it
    assert morsel["samesite"] == samesite
    assert morsel["secure"] == secure_flag
    assert morsel["path"] == "/"


def test_cookie_follows_session_cookie_secure_behind_a_proxy(client, user, application, settings):
    settings.SESSION_COOKIE_SECURE = True
    client.force_login(user)
    _, response = authorize(client, application)  # plain http as the app sees it: TLS ended at a proxy
    assert response.cookies[COOKIE]["samesite"] == "None" and response.cookies[COOKIE]["secure"] is True


def test_cookie_is_set_only_when_it_changes(client, user, application):
    client.force_login(user)
    authorize(client, application)
    assert COOKIE not in client.get("/").cookies


def test_cookie_name_is_a_setting(client, user, application, settings):
    settings.IDP_LOGOUT = {"BROWSER_STATE_COOKIE_NAME": "op_state"}
    client.force_login(user)
    params, response = authorize(client, application)
    assert "op_state" in response.cookies and COOKIE not in response.cookies
    salt = params["session_state"].rpartition(".")[2]
    assert params["session_state"] == spec_session_state(
        application.client_id, RP_ORIGIN, response.cookies["op_state"].value, salt
    )
    assert b'data-cookie-name="op_state"' in client.get(reverse(IFRAME)).content


def test_a_tampered_cookie_changes_nothing_server_side(client, user, application):
    client.force_login(user)
    authorize(client, application)
    genuine = cookie_value(client)
    client.cookies[COOKIE] = "tampered"
    response = client.get("/")
    assert response.cookies[COOKIE].value == genuine  # put right on the next response
    assert UserSession.objects.get(user=user).ended_at is None


# --- disabled ------------------------------------------------------------------------------------------


def test_disabled_adds_nothing(client, user, application, settings):
    client.force_login(user)
    authorize(client, application)
    assert cookie_value(client)
    settings.IDP_LOGOUT = {"CHECK_SESSION_IFRAME_ENABLED": False}
    params, response = authorize(client, application)
    assert "code" in params and "session_state" not in params
    assert response.cookies[COOKIE].value == ""  # the stale cookie is deleted
    assert client.get(reverse(IFRAME)).status_code == HTTPStatus.NOT_FOUND
    discovery = client.get(reverse("oauth2_provider:oidc-connect-discovery-info")).json()
    assert "check_session_iframe" not in discovery


# --- discovery and the iframe page --------------------------------------------------------------------


def test_discovery_advertises_the_check_session_iframe(client, db):
    discovery = client.get(reverse("oauth2_provider:oidc-connect-discovery-info")).json()
    assert discovery["check_session_iframe"] == "http://testserver/check-session/"


def test_iframe_may_be_framed_by_registered_client_origins_only(client, application_factory):
    application_factory(redirect_uris="https://rp.example.com/cb https://rp.example.com:443/other")
    application_factory(redirect_uris="http://127.0.0.1:8001/oidc/callback/ com.example.app:/cb")
    application_factory(redirect_uris="", authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS)
    response = client.get(reverse(IFRAME))
    assert response.status_code == HTTPStatus.OK
    assert (
        response["Content-Security-Policy"] == "frame-ancestors http://127.0.0.1:8001 https://rp.example.com"
    )
    assert "X-Frame-Options" not in response
    assert b'data-origins="http://127.0.0.1:8001 https://rp.example.com"' in response.content


def test_iframe_has_no_inline_script_and_is_cacheable(client, application):
    response = client.get(reverse(IFRAME))
    html = response.content.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assert "django_idp_logout/check_session.js" in html
    assert response["Cache-Control"] == "private, max-age=300"


def test_iframe_without_clients_may_be_framed_by_nobody(client, db):
    assert client.get(reverse(IFRAME))["Content-Security-Policy"] == "frame-ancestors 'none'"


def test_no_cache_when_max_age_is_zero(client, db, settings):
    settings.IDP_LOGOUT = {"CHECK_SESSION_IFRAME_MAX_AGE": 0}
    assert client.get(reverse(IFRAME))["Cache-Control"] == "no-cache"


def test_client_origins_are_cached_and_refreshed_when_a_client_changes(
    client, application_factory, django_assert_num_queries
):
    app = application_factory(redirect_uris="https://one.example/cb")
    client.get(reverse(IFRAME))
    with django_assert_num_queries(0):
        response = client.get(reverse(IFRAME))
    assert response["Content-Security-Policy"] == "frame-ancestors https://one.example"
    app.redirect_uris = "https://two.example/cb"
    app.save()
    assert client.get(reverse(IFRAME))["Content-Security-Policy"] == "frame-ancestors https://two.example"
    app.delete()
    assert client.get(reverse(IFRAME))["Content-Security-Policy"] == "frame-ancestors 'none'"


@pytest.mark.parametrize(
    "planted",
    [
        'https://evil.example/"><script>alert(1)</script>',
        "https://a.example;script-src *;/cb",
        "https://a.example, https://b.example/cb",
        "https://a.example\\u0000/cb",
        "https://a.example%0d%0aSet-Cookie:x=1/cb",
        "https://[fe80::1%25eth0]/cb",
        "javascript://a.example/%0aalert(1)",
    ],
)
def test_hostile_redirect_uris_never_reach_the_header_or_the_page(client, application_factory, planted):
    # Saved without DOT's form validation, as a bulk import or a raw SQL edit could.
    application_factory(redirect_uris=planted)
    response = client.get(reverse(IFRAME))
    header = response["Content-Security-Policy"]
    assert re.fullmatch(r"frame-ancestors( https://[a-z0-9.-]+)*|frame-ancestors 'none'", header), header
    assert "<script>alert" not in response.content.decode()


def test_iframe_ignores_its_query(client, application):
    plain = client.get(reverse(IFRAME))
    odd = client.get(reverse(IFRAME) + "?client_id=%00&origin=<script>&x=" + "y" * 5000)
    assert odd.status_code == HTTPStatus.OK and odd.content == plain.content


# --- origins --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "origin"),
    [
        ("https://rp.example.com/cb", "https://rp.example.com"),
        ("https://rp.example.com:443/cb", "https://rp.example.com"),
        ("http://rp.example.com:80/cb?x=1", "http://rp.example.com"),
        ("https://rp.example.com:8443/cb", "https://rp.example.com:8443"),
        ("http://rp.example.com:443/cb", "http://rp.example.com:443"),
        ("https://rp.example.com:80/cb", "https://rp.example.com:80"),
        ("http://127.0.0.1:8001/oidc/callback/", "http://127.0.0.1:8001"),
        ("HTTPS://RP.Example.COM/cb", "https://rp.example.com"),
        ("https://user:secret@rp.example.com/cb", "https://rp.example.com"),
        ("http://[::1]:8080/cb", "http://[::1]:8080"),
        ("http://[0:0:0:0:0:0:0:1]/cb", "http://[::1]"),
        ("https://bücher.example/cb", "https://xn--bcher-kva.example"),
        ("https://rp.example.com/cb#frag", "https://rp.example.com"),
    ],
)
def test_origin_of_a_redirect_uri(uri, origin):
    assert origin_of(uri) == origin


@pytest.mark.parametrize(
    "uri",
    [
        "com.example.app:/callback",
        "urn:ietf:wg:oauth:2.0:oob",
        "https:///no-host",
        "https://rp.example.com:99999/cb",
        "https://rp.example.com:port/cb",
        "https://rp example.com/cb",
        "https://a.example;x/cb",
        "https://[fe80::1%eth0]/cb",
        "https://[not-an-address]/cb",
        "",
    ],
)
def test_uris_without_a_usable_origin(uri):
    assert origin_of(uri) is None


def test_session_state_matches_refuses_malformed_values():
    for value in ("", "no-dot", "abc.", f"{secrets.token_hex(32)}"):
        assert not session_state_matches(value, client_id="c", origin=RP_ORIGIN, browser_state="s")


# --- system checks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "check_id"),
    [
        ({"CHECK_SESSION_IFRAME_ENABLED": "yes"}, "django_idp_logout.E300"),
        ({"BROWSER_STATE_COOKIE_NAME": "bad name;"}, "django_idp_logout.E301"),
        ({"BROWSER_STATE_COOKIE_NAME": ""}, "django_idp_logout.E301"),
        ({"BROWSER_STATE_COOKIE_NAME": "sessionid"}, "django_idp_logout.E302"),
        ({"CHECK_SESSION_IFRAME_MAX_AGE": -1}, "django_idp_logout.E303"),
        ({"CHECK_SESSION_IFRAME_MAX_AGE": True}, "django_idp_logout.E303"),
    ],
)
def test_checks_name_bad_settings(settings, overrides, check_id):
    settings.IDP_LOGOUT = overrides
    assert [error.id for error in check_session_management()] == [check_id]
    assert all(isinstance(error, Error) for error in check_session_management())


def test_checks_pass_with_the_defaults(settings):
    settings.IDP_LOGOUT = {}
    assert check_session_management() == []


# --- the authorize endpoint refuses what no database should see (found by tests/fuzz) -----------------


@pytest.mark.parametrize("name", ["nonce", "state", "code_challenge", "claims", "redirect_uri", "scope"])
@pytest.mark.parametrize("bad", ["a\x00b", "x" * 5000])
def test_authorize_refuses_malformed_parameters_with_a_400_and_no_redirect(
    client, user, application, name, bad
):
    client.force_login(user)
    params = {
        "response_type": "code",
        "client_id": application.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "st",
        "nonce": "n",
        "code_challenge": pkce_challenge("v" * 50),
        "code_challenge_method": "S256",
        name: bad,
    }
    response = client.get(f"{reverse('oauth2_provider:authorize')}?{urlencode(params)}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Location" not in response
    assert get_grant_model().objects.count() == 0 and SessionToken.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "length"), [("code_challenge", 129), ("nonce", 256), ("code_challenge_method", 11)]
)
def test_authorize_bounds_parameters_by_the_grant_columns(client, user, application, name, length):
    client.force_login(user)
    params = {
        "response_type": "code",
        "client_id": application.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "code_challenge": pkce_challenge("v" * 50),
        "code_challenge_method": "S256",
        name: "a" * length,
    }
    response = client.get(f"{reverse('oauth2_provider:authorize')}?{urlencode(params)}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert get_grant_model().objects.count() == 0


def test_authorize_refuses_a_nul_in_a_parameter_name(client, user, application):
    client.force_login(user)
    response = client.get(f"{reverse('oauth2_provider:authorize')}?client_id={application.client_id}&a%00b=1")
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_consent_form_post_with_a_nul_is_refused_without_a_redirect(client, user, application_factory):

    application = application_factory(skip_authorization=False)
    client.force_login(user)
    form = {
        "client_id": application.client_id,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid",
        "state": "st",
        "nonce": "n\x00",
        "allow": "Authorize",
    }
    response = client.post(reverse("oauth2_provider:authorize"), form)
    # Django's form refuses the NUL (the consent form again, 200); had it passed, the backend would (400).
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.BAD_REQUEST)
    assert "Location" not in response and get_grant_model().objects.count() == 0
