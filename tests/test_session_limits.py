"""Concurrent session limits: MAX_SESSIONS_PER_USER with SESSION_LIMIT_POLICY end_oldest / deny_new, and the
system checks of the new settings. The race of concurrent logins is in test_session_limit_race.py."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.core.checks import Error, Warning
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_access_token_model

from django_idp_logout import checks_sessions
from django_idp_logout.browser import SID_SESSION_KEY
from django_idp_logout.models import EndReason, UserSession
from tests.test_user_sessions import SYNC, browser_signed_in, is_signed_in, sid_of


def staff_unlimited(user):
    """A per-user limit: unlimited for staff, two sessions for everyone else."""
    return None if user.is_staff else 2


def live_sids(user) -> set[str]:
    return set(UserSession.objects.filter(user=user, ended_at__isnull=True).values_list("sid", flat=True))


def login(user, **extra) -> tuple[Client, object]:
    browser = Client(HTTP_USER_AGENT="Firefox/130.0", **extra)
    response = browser.post(
        "/accounts/login/", {"username": user.get_username(), "password": "alice-password"}
    )
    return browser, response


def test_end_oldest_ends_the_least_recently_active_session(
    user,
    application,
    oidc_login,
    logout_settings_factory,
    backchannel_receiver,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.IDP_LOGOUT = {**SYNC, "MAX_SESSIONS_PER_USER": 2, "COORDINATE_LIFETIME_WITH_USER_SESSION": True}
    logout_settings_factory(application, backchannel_logout_uri=backchannel_receiver.url("/bc"))
    first = browser_signed_in(user, "alice-password")
    second = browser_signed_in(user, "alice-password")
    first_tokens = oidc_login(user, application, browser=first)
    # The first browser was used more recently than the second: the second is the one to go.
    UserSession.objects.filter(sid=sid_of(second)).update(last_activity="2020-01-01T00:00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        third = browser_signed_in(user, "alice-password")
    assert live_sids(user) == {sid_of(first), sid_of(third)}
    assert UserSession.objects.get(sid=sid_of(second)).end_reason == EndReason.SESSION_LIMIT
    assert not is_signed_in(second) and is_signed_in(first) and is_signed_in(third)
    assert get_access_token_model().objects.filter(token=first_tokens["access_token"]).exists()
    # The second session had no client: nobody to notify. Now the first goes, with its client.
    assert backchannel_receiver.received == []
    UserSession.objects.filter(sid=sid_of(first)).update(last_activity="2020-01-01T00:00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        browser_signed_in(user, "alice-password")
    assert UserSession.objects.get(sid=sid_of(first)).end_reason == EndReason.SESSION_LIMIT
    assert not get_access_token_model().objects.filter(token=first_tokens["access_token"]).exists()
    (post,) = backchannel_receiver.posts_to("/bc")
    assert post.form["logout_token"]


def test_deny_new_leaves_the_new_browser_signed_out_with_a_page_that_says_why(user, settings):
    settings.IDP_LOGOUT = {"MAX_SESSIONS_PER_USER": 1, "SESSION_LIMIT_POLICY": "deny_new"}
    first = browser_signed_in(user, "alice-password")
    second, response = login(user)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("idp_logout:session_limit")
    assert "_auth_user_id" not in second.session and SID_SESSION_KEY not in second.session
    page = second.get(response["Location"])
    assert page.status_code == HTTPStatus.FORBIDDEN
    assert b"signed in on too many devices" in page.content
    assert b"Sign out on one of your other devices" in page.content
    assert not is_signed_in(second)
    assert live_sids(user) == {sid_of(first)} and is_signed_in(first)
    assert UserSession.objects.filter(user=user).count() == 1  # no session was started and ended


def test_relogin_in_the_same_browser_is_not_a_new_session(user, settings):
    settings.IDP_LOGOUT = {"MAX_SESSIONS_PER_USER": 1, "SESSION_LIMIT_POLICY": "deny_new"}
    browser = browser_signed_in(user, "alice-password")
    sid = sid_of(browser)
    again = browser.post("/accounts/login/", {"username": "alice", "password": "alice-password"})
    assert again["Location"] != reverse("idp_logout:session_limit")
    assert sid_of(browser) == sid and is_signed_in(browser)


@pytest.mark.parametrize("policy", ["end_oldest", "deny_new"])
def test_expired_sessions_do_not_count(user, settings, policy):
    settings.IDP_LOGOUT = {
        "MAX_SESSIONS_PER_USER": 1,
        "SESSION_LIMIT_POLICY": policy,
        "SESSION_IDLE_TIMEOUT": 600,
    }
    stale = browser_signed_in(user, "alice-password")
    UserSession.objects.filter(sid=sid_of(stale)).update(last_activity="2020-01-01T00:00:00Z")
    fresh = browser_signed_in(user, "alice-password")
    assert is_signed_in(fresh)
    # The stale one was not counted, nor ended by the limit (the idle timeout ends it, with its reason).
    assert UserSession.objects.get(sid=sid_of(stale)).end_reason != EndReason.SESSION_LIMIT


def test_limit_per_user_from_a_function(user, django_user_model, settings):
    settings.IDP_LOGOUT = {
        "MAX_SESSIONS_PER_USER": "tests.test_session_limits.staff_unlimited",
        "SESSION_LIMIT_POLICY": "deny_new",
    }
    for _ in range(2):
        browser_signed_in(user, "alice-password")
    _, refused = login(user)
    assert refused["Location"] == reverse("idp_logout:session_limit")
    staff = django_user_model.objects.create_user("root", password="alice-password", is_staff=True)
    for _ in range(4):
        _, response = login(staff)
        assert response["Location"] != reverse("idp_logout:session_limit")
    assert len(live_sids(staff)) == 4


def test_no_limit_by_default(user):
    for _ in range(5):
        browser_signed_in(user, "alice-password")
    assert len(live_sids(user)) == 5


# --- System checks ---------------------------------------------------------------------------------


def ids(messages):
    return [m.id for m in messages]


def test_default_configuration_is_clean():
    assert checks_sessions.check_session_settings() == []


@pytest.mark.parametrize(
    "value", [0, -1, True, 2.5, ["3"], "not a dotted path", "tests.test_session_limits.nope"]
)
def test_bad_session_limit_is_an_error(settings, value):
    settings.IDP_LOGOUT = {"MAX_SESSIONS_PER_USER": value}
    assert ids(checks_sessions.check_session_settings()) in (
        ["django_idp_logout.E200"],
        ["django_idp_logout.E201"],
    )


@pytest.mark.parametrize("value", [None, 1, 50, "tests.test_session_limits.staff_unlimited"])
def test_good_session_limits_pass(settings, value):
    settings.IDP_LOGOUT = {"MAX_SESSIONS_PER_USER": value}
    assert checks_sessions.check_session_settings() == []


def test_unknown_policy_is_an_error(settings):
    settings.IDP_LOGOUT = {"SESSION_LIMIT_POLICY": "end_newest"}
    assert checks_sessions.check_session_settings() == [
        Error(
            "IDP_LOGOUT['SESSION_LIMIT_POLICY'] is 'end_newest'.",
            hint='Use "end_oldest" (end the least recently active sessions) or "deny_new" (refuse the new login).',
            id="django_idp_logout.E202",
        )
    ]


@pytest.mark.parametrize(
    ("settings_value", "expected"),
    [
        ({"CLIENT_IP_HEADER": ""}, ["django_idp_logout.E203"]),
        ({"CLIENT_IP_HEADER": 5}, ["django_idp_logout.E203"]),
        ({"CLIENT_IP_HEADER": "X-Forwarded-For"}, ["django_idp_logout.W200"]),
        ({"CLIENT_IP_HEADER": "HTTP_X_FORWARDED_FOR"}, []),
        ({"CLIENT_IP_TRUSTED_PROXIES": 0}, ["django_idp_logout.E204"]),
        ({"REQUIRE_RECENT_LOGIN_FOR_END_OTHERS": 0}, ["django_idp_logout.E205"]),
        ({"REQUIRE_RECENT_LOGIN_FOR_END_OTHERS": 300}, []),
        ({"SESSIONS_API_SCOPE": "two words"}, ["django_idp_logout.E206"]),
        ({"SESSIONS_API_SCOPE": "unknown-scope"}, ["django_idp_logout.W201"]),
    ],
)
def test_bad_values_of_the_other_settings(settings, settings_value, expected):
    settings.IDP_LOGOUT = settings_value
    assert ids(checks_sessions.check_session_settings()) == expected


def test_scope_missing_from_dot_names_the_fix(settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "SCOPES": {"openid": "OpenID Connect"}}
    # A project that does not name the scope does not offer the API: nothing to warn about.
    assert checks_sessions.check_session_settings() == []
    settings.IDP_LOGOUT = {"SESSIONS_API_SCOPE": "sessions"}
    (warning,) = checks_sessions.check_session_settings()
    assert isinstance(warning, Warning) and warning.id == "django_idp_logout.W201"
    assert 'Add "sessions" to OAUTH2_PROVIDER["SCOPES"]' in warning.hint
