"""The "your sessions" page (``idp_logout:sessions``) and its JSON API: what a user sees, what they can end,
and what an attacker cannot do (foreign sids, CSRF, hostile User-Agents, tokens without the scope or of
another user)."""

from __future__ import annotations

import json
import time
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse
from jwcrypto import jwt
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from django_idp_logout.browser import AUTH_TIME_SESSION_KEY, SID_SESSION_KEY
from django_idp_logout.models import EndReason, UserSession

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
SYNC = {"BACKCHANNEL_DELIVERY": "sync", "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True}


def browser_signed_in(user, password, *, user_agent=FIREFOX, remote_addr="203.0.113.7", **extra) -> Client:
    """A browser that signed in through the real login form (so the login records its device)."""
    browser = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=remote_addr, **extra)
    response = browser.post("/accounts/login/", {"username": user.get_username(), "password": password})
    assert response.status_code == HTTPStatus.FOUND, response.content[:300]
    return browser


def sid_of(browser: Client) -> str:
    return browser.session[SID_SESSION_KEY]


def is_signed_in(browser: Client) -> bool:
    return browser.get(reverse("idp_logout:sessions")).status_code == HTTPStatus.OK


@pytest.fixture
def laptop(user):
    return browser_signed_in(user, "alice-password")


@pytest.fixture
def phone(user):
    return browser_signed_in(user, "alice-password", user_agent=SAFARI_IPHONE, remote_addr="2001:db8::5")


# --- What a login records --------------------------------------------------------------------------


def test_login_records_browser_os_and_ip(laptop, phone):
    laptop_session = UserSession.objects.get(sid=sid_of(laptop))
    assert (laptop_session.browser, laptop_session.os) == ("Firefox 130", "Linux")
    assert laptop_session.ip_address == "203.0.113.7"
    assert laptop_session.user_agent == FIREFOX
    phone_session = UserSession.objects.get(sid=sid_of(phone))
    assert (phone_session.browser, phone_session.os) == ("Mobile Safari 17", "iOS 17")
    assert phone_session.ip_address == "2001:db8::5"


def test_forwarded_header_is_ignored_unless_configured(user, settings):
    spoofed = browser_signed_in(user, "alice-password", HTTP_X_FORWARDED_FOR="198.51.100.66")
    assert UserSession.objects.get(sid=sid_of(spoofed)).ip_address == "203.0.113.7"

    settings.IDP_LOGOUT = {"CLIENT_IP_HEADER": "HTTP_X_FORWARDED_FOR"}
    # The client claims 198.51.100.66; our one proxy appended the address it saw: 192.0.2.10.
    proxied = browser_signed_in(user, "alice-password", HTTP_X_FORWARDED_FOR="198.51.100.66, 192.0.2.10")
    assert UserSession.objects.get(sid=sid_of(proxied)).ip_address == "192.0.2.10"

    settings.IDP_LOGOUT = {"CLIENT_IP_HEADER": "HTTP_X_FORWARDED_FOR", "CLIENT_IP_TRUSTED_PROXIES": 2}
    two_proxies = browser_signed_in(user, "alice-password", HTTP_X_FORWARDED_FOR="198.51.100.66, 192.0.2.10")
    assert UserSession.objects.get(sid=sid_of(two_proxies)).ip_address == "198.51.100.66"
    garbage = browser_signed_in(user, "alice-password", HTTP_X_FORWARDED_FOR="not-an-ip, <script>")
    assert UserSession.objects.get(sid=sid_of(garbage)).ip_address == "203.0.113.7"


@pytest.mark.parametrize(
    ("user_agent", "stored"),
    [
        ("Firefox\x00/130", "Firefox/130"),
        ("x" * 100_000, "x" * 512),
        ("", ""),
        ("\u00e9\u4e2d\U0001f600 Browser", "\u00e9\u4e2d\U0001f600 Browser"),
    ],
)
def test_hostile_user_agents_are_stored_bounded_and_clean(user, user_agent, stored):
    browser = browser_signed_in(user, "alice-password", user_agent=user_agent)
    assert UserSession.objects.get(sid=sid_of(browser)).user_agent == stored


def test_lone_surrogate_in_user_agent_is_dropped():
    from django_idp_logout.devices import sanitized_user_agent

    assert sanitized_user_agent("Evil\ud800Browser") == "EvilBrowser"
    assert sanitized_user_agent(b"bytes") == ""


# --- The page ---------------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get(reverse("idp_logout:sessions"))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith("/accounts/login/?next=/sessions/")


def test_page_lists_live_sessions_newest_activity_first_current_marked(
    user, laptop, phone, application, oidc_login
):
    oidc_login(user, application, browser=phone)
    UserSession.objects.filter(sid=sid_of(laptop)).update(last_activity="2020-01-01T00:00:00Z")
    ended = browser_signed_in(user, "alice-password")
    ended.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    response = phone.get(reverse("idp_logout:sessions"))
    assert response.status_code == HTTPStatus.OK
    listed = response.context["sessions"]
    assert [s.sid for s in listed] == [sid_of(phone), sid_of(laptop)]
    assert [s.current for s in listed] == [True, False]
    assert listed[0].device == "Mobile Safari 17 on iOS 17"
    assert listed[0].client_names == ["Example RP"]
    html = response.content.decode()
    assert "this device" in html and "Firefox 130 on Linux" in html and "203.0.113.7" in html
    assert response["Cache-Control"].startswith("max-age=0")


def test_expired_sessions_are_not_listed(user, laptop, phone, settings):
    settings.IDP_LOGOUT = {"SESSION_IDLE_TIMEOUT": 3600}
    UserSession.objects.filter(sid=sid_of(laptop)).update(last_activity="2020-01-01T00:00:00Z")
    listed = phone.get(reverse("idp_logout:sessions")).context["sessions"]
    assert [s.sid for s in listed] == [sid_of(phone)]


def test_ending_another_session_revokes_notifies_and_signs_that_browser_out(
    user,
    laptop,
    phone,
    application,
    oidc_login,
    logout_settings_factory,
    backchannel_receiver,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.IDP_LOGOUT = {**SYNC, "COORDINATE_LIFETIME_WITH_USER_SESSION": True}
    logout_settings_factory(application, backchannel_logout_uri=backchannel_receiver.url("/bc"))
    laptop_tokens = oidc_login(user, application, browser=laptop)
    phone_tokens = oidc_login(user, application, browser=phone)
    laptop_sid = sid_of(laptop)

    with django_capture_on_commit_callbacks(execute=True):
        response = phone.post(reverse("idp_logout:sessions"), {"end": laptop_sid})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("idp_logout:sessions")

    ended = UserSession.objects.get(sid=laptop_sid)
    assert ended.ended_at is not None and ended.end_reason == EndReason.REMOTE_LOGOUT
    (post,) = backchannel_receiver.posts_to("/bc")
    claims = json.loads(jwt.JWT(jwt=post.form["logout_token"][0]).token.objects["payload"])
    assert claims["sid"] == laptop_sid and claims["logout_reason"] == "remote_logout"
    # The laptop's tokens are gone, the phone's are untouched.
    assert not get_access_token_model().objects.filter(token=laptop_tokens["access_token"]).exists()
    assert get_refresh_token_model().objects.get(token=laptop_tokens["refresh_token"]).revoked is not None
    assert get_access_token_model().objects.filter(token=phone_tokens["access_token"]).exists()
    # The laptop browser is signed out on its next request; the phone stays signed in.
    assert not is_signed_in(laptop)
    assert is_signed_in(phone)


def test_sign_out_everywhere_else_keeps_only_this_session(user, laptop, phone, django_user_model):
    third = browser_signed_in(user, "alice-password")
    bob = django_user_model.objects.create_user("bob", password="bob-password")
    bobs = browser_signed_in(bob, "bob-password")
    response = phone.post(reverse("idp_logout:sessions"), {"end_others": "1"})
    assert response.status_code == HTTPStatus.FOUND
    assert list(
        UserSession.objects.filter(user=user, ended_at__isnull=True).values_list("sid", flat=True)
    ) == [sid_of(phone)]
    assert set(
        UserSession.objects.filter(user=user, ended_at__isnull=False).values_list("end_reason", flat=True)
    ) == {EndReason.REMOTE_LOGOUT}
    assert not is_signed_in(laptop) and not is_signed_in(third)
    assert is_signed_in(phone) and is_signed_in(bobs)


def test_sign_out_everywhere_else_can_require_a_recent_sign_in(laptop, phone, settings):
    settings.IDP_LOGOUT = {"REQUIRE_RECENT_LOGIN_FOR_END_OTHERS": 300}
    session = phone.session
    session[AUTH_TIME_SESSION_KEY] = int(time.time()) - 301
    session.save()
    response = phone.post(reverse("idp_logout:sessions"), {"end_others": "1"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert b'id="reauthenticate"' in response.content
    assert b"/accounts/login/?next=%2Fsessions%2F" in response.content
    assert UserSession.objects.get(sid=sid_of(laptop)).ended_at is None

    # Signing in again in the same browser keeps the session and makes the sign-in recent.
    sid_before = sid_of(phone)
    phone.post("/accounts/login/", {"username": "alice", "password": "alice-password"})
    assert sid_of(phone) == sid_before
    assert phone.post(reverse("idp_logout:sessions"), {"end_others": "1"}).status_code == HTTPStatus.FOUND
    assert UserSession.objects.get(sid=sid_of(laptop)).ended_at is not None


# --- The page, from the attacker's side ------------------------------------------------------------


def test_another_users_sid_is_a_404_and_ends_nothing(user, other_user, laptop):
    mallory = browser_signed_in(other_user, "mallory-password")
    response = mallory.post(reverse("idp_logout:sessions"), {"end": sid_of(laptop)})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert UserSession.objects.get(sid=sid_of(laptop)).ended_at is None
    assert sid_of(laptop).encode() not in mallory.get(reverse("idp_logout:sessions")).content


@pytest.mark.parametrize(
    "body", ["end=", "end=no-such-sid", "end=" + "x" * 300, "end=a%00b", "end=%ED%A0%80%FF"]
)
def test_unknown_or_malformed_sid_changes_nothing(laptop, phone, body):
    response = phone.post(
        reverse("idp_logout:sessions"), body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND)
    assert UserSession.objects.filter(ended_at__isnull=False).count() == 0


def test_own_current_session_cannot_be_ended_from_the_list(phone):
    response = phone.post(reverse("idp_logout:sessions"), {"end": sid_of(phone)})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert is_signed_in(phone)


def test_repeated_parameter_is_refused(laptop, phone):
    response = phone.post(reverse("idp_logout:sessions"), {"end": [sid_of(laptop), sid_of(laptop)]})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert UserSession.objects.get(sid=sid_of(laptop)).ended_at is None


def test_post_without_csrf_token_is_refused(user, laptop):
    strict = browser_signed_in(user, "alice-password")
    strict.handler.enforce_csrf_checks = True  # from now on, like a real browser: no token, no POST
    strict_sid = sid_of(strict)
    for data in ({"end": sid_of(laptop)}, {"end_others": "1"}):
        response = strict.post(reverse("idp_logout:sessions"), data)
        assert response.status_code == HTTPStatus.FORBIDDEN
    assert UserSession.objects.filter(ended_at__isnull=False).count() == 0
    assert UserSession.objects.get(sid=strict_sid).ended_at is None


def test_hostile_user_agent_is_escaped_on_the_page(user, phone):
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)> "quoted" Firefox/130.0'
    browser_signed_in(user, "alice-password", user_agent=hostile)
    UserSession.objects.filter(user_agent=hostile).update(
        browser='<b onmouseover="x">Evil</b>', os="<svg/onload=1>"
    )
    html = phone.get(reverse("idp_logout:sessions")).content.decode()
    assert "<b onmouseover" not in html and "<svg/onload" not in html and "<script>alert" not in html
    assert "&lt;b onmouseover=&quot;x&quot;&gt;Evil&lt;/b&gt;" in html


# --- The JSON API ----------------------------------------------------------------------------------


@pytest.fixture
def api_client_app(application_factory):
    return application_factory(name="Account Portal", client_id="account-portal")


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_api_lists_the_users_sessions_with_the_tokens_own_marked(
    user, laptop, phone, api_client_app, oidc_login
):
    tokens = oidc_login(user, api_client_app, browser=phone, scope="openid sessions")
    response = Client().get(reverse("idp_logout:sessions_api"), **bearer(tokens["access_token"]))
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    listed = response.json()["sessions"]
    assert {s["sid"] for s in listed} == {sid_of(laptop), sid_of(phone)}
    mine = next(s for s in listed if s["current"])
    assert mine["sid"] == sid_of(phone) and mine["clients"] == ["Account Portal"]
    assert mine["device"] == "Mobile Safari 17 on iOS 17" and mine["ip_address"] == "2001:db8::5"


@pytest.mark.parametrize("method", ["post", "delete"])
def test_api_ends_one_of_the_users_sessions(user, laptop, phone, api_client_app, oidc_login, method):
    tokens = oidc_login(user, api_client_app, browser=phone, scope="openid sessions")
    url = reverse("idp_logout:sessions_api_session", args=[sid_of(laptop)])
    response = getattr(Client(), method)(url, **bearer(tokens["access_token"]))
    assert response.status_code == HTTPStatus.OK, response.content
    assert response.json() == {"sid": sid_of(laptop), "ended": True}
    assert UserSession.objects.get(sid=sid_of(laptop)).end_reason == EndReason.REMOTE_LOGOUT
    assert not is_signed_in(laptop)


def test_api_without_the_scope_is_forbidden(user, laptop, phone, api_client_app, oidc_login):
    tokens = oidc_login(user, api_client_app, browser=phone, scope="openid")
    for response in (
        Client().get(reverse("idp_logout:sessions_api"), **bearer(tokens["access_token"])),
        Client().post(
            reverse("idp_logout:sessions_api_session", args=[sid_of(laptop)]),
            **bearer(tokens["access_token"]),
        ),
    ):
        assert response.status_code == HTTPStatus.FORBIDDEN
        assert response.json()["error"] == "insufficient_scope"
        assert response["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
    assert UserSession.objects.get(sid=sid_of(laptop)).ended_at is None


def test_api_with_another_users_token_cannot_see_or_end_the_session(
    user, other_user, laptop, api_client_app, oidc_login
):
    mallory = browser_signed_in(other_user, "mallory-password")
    tokens = oidc_login(other_user, api_client_app, browser=mallory, scope="openid sessions")
    listed = Client().get(reverse("idp_logout:sessions_api"), **bearer(tokens["access_token"])).json()
    assert [s["sid"] for s in listed["sessions"]] == [sid_of(mallory)]
    response = Client().delete(
        reverse("idp_logout:sessions_api_session", args=[sid_of(laptop)]), **bearer(tokens["access_token"])
    )
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["error"] == "not_found"
    assert UserSession.objects.get(sid=sid_of(laptop)).ended_at is None


def test_api_ignores_the_browser_cookie(laptop):
    """A signed-in browser (cookie, no token) gets nothing: cross-site requests cannot use the API."""
    response = laptop.get(reverse("idp_logout:sessions_api"))
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"] == "invalid_token"
    response = laptop.post(reverse("idp_logout:sessions_api_session", args=[sid_of(laptop)]))
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert UserSession.objects.get(sid=sid_of(laptop)).ended_at is None


@pytest.mark.parametrize(
    "authorization",
    ["Bearer nope", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Bearer \x00", "Bearer " + "x" * 5000],
)
def test_api_bad_tokens_get_json_errors(db, authorization):
    response = Client().get(reverse("idp_logout:sessions_api"), HTTP_AUTHORIZATION=authorization)
    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.UNAUTHORIZED)
    assert response.json()["error"] in ("invalid_request", "invalid_token")


def test_api_refuses_token_in_query_string(user, phone, api_client_app, oidc_login):
    tokens = oidc_login(user, api_client_app, browser=phone, scope="openid sessions")
    response = Client().get(reverse("idp_logout:sessions_api") + f"?access_token={tokens['access_token']}")
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_api_expired_token_is_invalid(user, phone, api_client_app, oidc_login):
    tokens = oidc_login(user, api_client_app, browser=phone, scope="openid sessions")
    get_access_token_model().objects.filter(token=tokens["access_token"]).update(
        expires="2020-01-01T00:00:00Z"
    )
    response = Client().get(reverse("idp_logout:sessions_api"), **bearer(tokens["access_token"]))
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["error"] == "invalid_token"


def test_listing_costs_the_same_queries_for_2_or_20_sessions(user, laptop, phone, application, oidc_login):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    oidc_login(user, application, browser=laptop)

    def queries_of_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert phone.get(reverse("idp_logout:sessions")).status_code == HTTPStatus.OK
        return len(captured)

    few = queries_of_page()
    for _ in range(18):
        oidc_login(user, application, browser=browser_signed_in(user, "alice-password"))
    assert len(phone.get(reverse("idp_logout:sessions")).context["sessions"]) == 20
    assert queries_of_page() == few
