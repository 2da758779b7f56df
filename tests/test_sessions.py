"""Server-side sessions: sid in ID tokens, coordinated revocation on every path, expiry, refresh."""

import json
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from jwcrypto import jwt
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from django_idp_logout import api, signals
from django_idp_logout.browser import SID_SESSION_KEY
from django_idp_logout.models import ClientLogoutSettings, EndReason, SessionToken, UserSession
from tests.conftest import POST_LOGOUT_URI, REDIRECT_URI, end_session_url, is_signed_in

pytestmark = pytest.mark.django_db

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
IDToken = get_id_token_model()


def claims_of(id_token: str) -> dict:
    return json.loads(jwt.JWT(jwt=id_token).token.objects["payload"])


def refresh(browser, application, refresh_token):
    return browser.post(
        reverse("oauth2_provider:token"),
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": application.client_id,
            "client_secret": application.client_secret,
        },
    )


def live_tokens(application, user_session=None):
    """(live access tokens, unrevoked refresh tokens, ID tokens) of a client, optionally one session's."""
    filters = {"application": application}
    if user_session is not None:
        filters["idp_logout_binding__user_session"] = user_session
    return (
        AccessToken.objects.filter(**filters).count(),
        RefreshToken.objects.filter(revoked__isnull=True, **filters).count(),
        IDToken.objects.filter(**filters).count(),
    )


def coordinate(application, value):
    ClientLogoutSettings.objects.update_or_create(
        application=application, defaults={"coordinate_lifetime_with_user_session": value}
    )


def session_of(browser) -> UserSession:
    return UserSession.objects.get(sid=browser.session[SID_SESSION_KEY])


@pytest.fixture
def coordinated(settings):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True}


# --- sid ---------------------------------------------------------------------------------------


def test_sid_in_id_token_stable_across_refresh_and_not_in_userinfo(client, user, application, oidc_login):
    tokens = oidc_login(user, application, scope="openid profile")
    sid = claims_of(tokens["id_token"])["sid"]
    assert sid == session_of(client).sid
    assert sid != client.session.session_key
    refreshed = refresh(client, application, tokens["refresh_token"])
    assert refreshed.status_code == HTTPStatus.OK, refreshed.content
    assert claims_of(refreshed.json()["id_token"])["sid"] == sid
    userinfo = client.get(
        reverse("oauth2_provider:user-info"), HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access_token']}"
    )
    assert userinfo.status_code == HTTPStatus.OK
    assert "sid" not in userinfo.json()


def test_sid_is_distinct_per_browser_and_kept_on_relogin(user, application, oidc_login):
    first, second = Client(), Client()
    sid_first = claims_of(oidc_login(user, application, browser=first)["id_token"])["sid"]
    sid_second = claims_of(oidc_login(user, application, browser=second)["id_token"])["sid"]
    assert sid_first != sid_second
    first.force_login(user)  # re-login of the same user in the same browser
    assert claims_of(oidc_login(user, application, browser=first)["id_token"])["sid"] == sid_first


def test_discovery_lists_sid_in_claims_supported(client):
    assert (
        "sid" in client.get(reverse("oauth2_provider:oidc-connect-discovery-info")).json()["claims_supported"]
    )


def test_session_records_its_clients_and_binds_every_token(client, user, application_factory, oidc_login):
    first, second = application_factory(), application_factory()
    oidc_login(user, first)
    oidc_login(user, second)
    user_session = session_of(client)
    assert set(user_session.session_clients.values_list("application__client_id", flat=True)) == {
        first.client_id,
        second.client_id,
    }
    bound = SessionToken.objects.filter(user_session=user_session)
    assert bound.filter(access_token__isnull=False).count() == 2
    assert bound.filter(refresh_token__isnull=False).count() == 2
    assert bound.filter(id_token__isnull=False).count() == 2
    assert bound.filter(grant__isnull=False).count() == 0  # codes are consumed


# --- coordination matrix --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("global_default", "per_client", "revoked"),
    [
        (False, None, False),
        (True, None, True),
        (False, True, True),
        (True, False, False),
        (True, True, True),
        (False, False, False),
    ],
)
def test_coordination_per_client_against_global(
    client, user, application, oidc_login, settings, global_default, per_client, revoked
):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": global_default}
    if per_client is not None:
        coordinate(application, per_client)
    tokens = oidc_login(user, application)
    client.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert not is_signed_in(client)
    assert live_tokens(application) == ((0, 0, 0) if revoked else (1, 1, 1))
    response = refresh(Client(), application, tokens["refresh_token"])
    assert response.status_code == (HTTPStatus.BAD_REQUEST if revoked else HTTPStatus.OK)
    if revoked:
        assert response.json()["error"] == "invalid_grant"


def test_other_session_and_uncoordinated_client_keep_their_tokens(
    user, application_factory, oidc_login, settings
):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True}
    coordinated_app, free_app = application_factory(), application_factory()
    coordinate(free_app, False)
    laptop, phone = Client(), Client()
    oidc_login(user, coordinated_app, browser=laptop)
    oidc_login(user, free_app, browser=laptop)
    oidc_login(user, coordinated_app, browser=phone)
    laptop_session, phone_session = session_of(laptop), session_of(phone)
    laptop.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert live_tokens(coordinated_app, laptop_session) == (0, 0, 0)
    assert (
        RefreshToken.objects.filter(
            idp_logout_binding__user_session=laptop_session, revoked__isnull=False
        ).count()
        == 1
    )
    assert live_tokens(free_app, laptop_session) == (1, 1, 1)
    assert live_tokens(coordinated_app, phone_session) == (1, 1, 1)
    assert is_signed_in(phone)
    phone_session.refresh_from_db()
    assert phone_session.ended_at is None


def test_rotation_chain_is_revoked_whole(client, user, application, oidc_login, coordinated):
    tokens = oidc_login(user, application)
    second = refresh(client, application, tokens["refresh_token"]).json()
    third = refresh(client, application, second["refresh_token"]).json()
    client.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert live_tokens(application) == (0, 0, 0)
    for old in (tokens, second, third):
        assert refresh(Client(), application, old["refresh_token"]).status_code == HTTPStatus.BAD_REQUEST


def test_pending_authorization_codes_are_deleted(client, user, application, coordinated):
    client.force_login(user)
    query = (
        f"response_type=code&client_id={application.client_id}&redirect_uri={REDIRECT_URI}&scope=openid"
        "&code_challenge=" + "a" * 43 + "&code_challenge_method=S256"
    )
    assert client.get(f"{reverse('oauth2_provider:authorize')}?{query}").status_code == HTTPStatus.FOUND
    assert get_grant_model().objects.count() == 1
    client.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert get_grant_model().objects.count() == 0


def test_offline_access_tokens_kept_when_configured(client, user, application, oidc_login, settings):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "SCOPES": {**settings.OAUTH2_PROVIDER["SCOPES"], "offline_access": "Offline"},
    }
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True, "KEEP_OFFLINE_ACCESS_TOKENS": True}
    offline = oidc_login(user, application, scope="openid offline_access")
    online = oidc_login(user, application, scope="openid")
    client.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert refresh(Client(), application, offline["refresh_token"]).status_code == HTTPStatus.OK
    assert refresh(Client(), application, online["refresh_token"]).status_code == HTTPStatus.BAD_REQUEST


# --- every path ends the session --------------------------------------------------------------------


def test_admin_logout_revokes(user, application, oidc_login, coordinated):
    user.is_staff = True
    user.save()
    browser = Client()
    oidc_login(user, application, browser=browser)
    browser.post(reverse("admin:logout"))
    assert live_tokens(application) == (0, 0, 0)
    assert UserSession.objects.get().end_reason == EndReason.USER_LOGOUT


def test_project_own_logout_view_revokes(user, application, oidc_login, coordinated):
    browser = Client()
    oidc_login(user, application, browser=browser)
    browser.post(reverse("logout"))  # django.contrib.auth.views.LogoutView
    assert live_tokens(application) == (0, 0, 0)


def test_rp_initiated_logout_revokes_and_reports(
    client, user, application, oidc_login, coordinated, django_capture_on_commit_callbacks
):
    received = []

    def on_revoked(sender, **kwargs):
        received.append(kwargs)

    signals.tokens_revoked.connect(on_revoked)
    try:
        tokens = oidc_login(user, application)
        start = client.get(
            end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
        )
        with django_capture_on_commit_callbacks(execute=True):
            with_hint = client.get(client.get(start["Location"])["Location"])
        assert with_hint["Location"] == POST_LOGOUT_URI
    finally:
        signals.tokens_revoked.disconnect(on_revoked)
    assert live_tokens(application) == (0, 0, 0)
    assert received[0]["client_ids"] == [application.client_id]
    assert received[0]["counts"] == {"refresh_tokens": 1, "access_tokens": 1, "id_tokens": 1, "grants": 0}


def test_admin_action_ends_session_and_browser_is_dead_next_request(
    admin_client, user, application, oidc_login, coordinated
):
    browser = Client()
    oidc_login(user, application, browser=browser)
    user_session = session_of(browser)
    response = admin_client.post(
        reverse("admin:django_idp_logout_usersession_changelist"),
        {"action": "end_selected_sessions", "_selected_action": [user_session.pk]},
    )
    assert response.status_code == HTTPStatus.FOUND
    user_session.refresh_from_db()
    assert user_session.end_reason == EndReason.TERMINATED
    assert live_tokens(application) == (0, 0, 0)
    browser.get("/")
    assert not is_signed_in(browser)


def test_api_query_and_end_other_sessions(rf, user, other_user, application, oidc_login, coordinated):
    laptop, phone = Client(), Client()
    oidc_login(user, application, browser=laptop)
    oidc_login(user, application, browser=phone)
    oidc_login(other_user, application, browser=Client())
    assert api.query_sessions(user=user).count() == 2
    assert api.query_sessions(client_id=application.client_id).count() == 3
    request = rf.get("/")
    request.user, request.session = user, laptop.session
    ended = api.end_other_sessions(request)
    assert [e.user_session.sid for e in ended] == [session_of(phone).sid]
    assert api.query_sessions(user=user).count() == 1
    phone.get("/")
    assert not is_signed_in(phone) and is_signed_in(laptop)


def test_end_session_is_idempotent(user):
    user_session = UserSession.objects.create(user=user)
    assert api.end_session(user_session=user_session, reason=EndReason.TERMINATED).ended_now
    assert not api.end_session(user_session=user_session, reason=EndReason.USER_LOGOUT).ended_now
    user_session.refresh_from_db()
    assert user_session.end_reason == EndReason.TERMINATED


@pytest.mark.parametrize(
    "engine",
    [
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cache",
        "django.contrib.sessions.backends.cached_db",
        "django.contrib.sessions.backends.file",
        "django.contrib.sessions.backends.signed_cookies",
    ],
)
def test_ended_session_is_dead_on_next_request_with_every_session_engine(settings, tmp_path, user, engine):
    settings.SESSION_ENGINE = engine
    settings.SESSION_FILE_PATH = str(tmp_path)
    browser = Client()
    browser.force_login(user)
    browser.get("/")
    assert browser.get("/").context["user"].is_authenticated
    api.end_sessions(api.query_sessions(user=user))
    response = browser.get("/")
    assert not response.context["user"].is_authenticated
    assert not browser.get("/").context["user"].is_authenticated


# --- expiry -----------------------------------------------------------------------------------------


def age(user_session, *, created=None, active=None):
    fields = {}
    if created is not None:
        fields["created_at"] = timezone.now() - timezone.timedelta(seconds=created)
    if active is not None:
        fields["last_activity"] = timezone.now() - timezone.timedelta(seconds=active)
    UserSession.objects.filter(pk=user_session.pk).update(**fields)


def test_idle_expiry_through_the_command(user, application, oidc_login, settings, capsys):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True, "SESSION_IDLE_TIMEOUT": 600}
    idle, busy = Client(), Client()
    idle_tokens = oidc_login(user, application, browser=idle)
    oidc_login(user, application, browser=busy)
    age(session_of(idle), active=601)
    age(session_of(busy), active=30)
    call_command("idp_logout_expire_sessions", batch_size=1)
    assert "Ended 1 expired sessions" in capsys.readouterr().out
    assert session_of(idle).end_reason == EndReason.SESSION_EXPIRATION
    assert session_of(busy).ended_at is None
    assert refresh(Client(), application, idle_tokens["refresh_token"]).json()["error"] == "invalid_grant"
    idle.get("/")
    assert not is_signed_in(idle)


def test_absolute_expiry_through_the_command(user, application, oidc_login, settings):
    settings.IDP_LOGOUT = {"SESSION_ABSOLUTE_TIMEOUT": 3600}
    browser = Client()
    oidc_login(user, application, browser=browser)
    age(session_of(browser), created=3601, active=1)
    call_command("idp_logout_expire_sessions")
    assert session_of(browser).ended_at is not None


@pytest.mark.parametrize(
    ("timeouts", "order"),
    [
        ({"SESSION_IDLE_TIMEOUT": 600}, ("ended_at", "last_activity")),
        ({"SESSION_ABSOLUTE_TIMEOUT": 3600}, ("ended_at", "created_at")),
        ({"SESSION_IDLE_TIMEOUT": 600, "SESSION_ABSOLUTE_TIMEOUT": 3600}, ()),
    ],
)
def test_expiry_claims_in_the_order_of_the_index_that_serves_its_timeout(user, settings, timeouts, order):
    """The claim walks (ended_at, last_activity) or (ended_at, created_at) from the oldest instead of
    letting PostgreSQL scan the session table for matches (docs/benchmarks.md, "Growth"); with both
    timeouts either kind of expired session is still found."""
    from django.db import connection as default_connection
    from django.test.utils import CaptureQueriesContext

    from django_idp_logout.services.expiry import claim_order, expire_sessions

    settings.IDP_LOGOUT = timeouts
    assert claim_order() == order
    idle, old, fresh = (UserSession.objects.create(user=user) for _ in range(3))
    age(idle, created=60, active=601)
    age(old, created=3601, active=1)
    with CaptureQueriesContext(default_connection) as queries:
        ended = expire_sessions(batch_size=10)
    if default_connection.features.has_select_for_update_skip_locked:  # the shared-work claim
        claim = next(q["sql"] for q in queries.captured_queries if "SKIP LOCKED" in q["sql"])
        table = default_connection.ops.quote_name(UserSession._meta.db_table)
        columns = ", ".join(f"{table}.{default_connection.ops.quote_name(c)} ASC" for c in order)
        assert (f"ORDER BY {columns}" in claim) if order else ("ORDER BY" not in claim)
    expected = {
        idle.pk: "SESSION_IDLE_TIMEOUT" in timeouts,
        old.pk: "SESSION_ABSOLUTE_TIMEOUT" in timeouts,
        fresh.pk: False,
    }
    assert ended == sum(expected.values())
    for pk, should_end in expected.items():
        assert (UserSession.objects.get(pk=pk).ended_at is not None) is should_end


def test_command_without_timeouts_says_so(capsys):
    call_command("idp_logout_expire_sessions")
    assert "nothing expires" in capsys.readouterr().out


def test_expired_but_unprocessed_session_refuses_refresh_and_is_dead_in_browser(
    user, application, oidc_login, settings
):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True, "SESSION_IDLE_TIMEOUT": 600}
    browser = Client()
    tokens = oidc_login(user, application, browser=browser)
    age(session_of(browser), active=601)
    assert refresh(Client(), application, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    browser.get("/")
    assert not is_signed_in(browser)


def test_refresh_counts_as_activity(user, application, oidc_login, settings):
    settings.IDP_LOGOUT = {"SESSION_IDLE_TIMEOUT": 600, "SESSION_ACTIVITY_RESOLUTION": 1}
    browser = Client()
    tokens = oidc_login(user, application, browser=browser)
    age(session_of(browser), active=500)
    assert refresh(Client(), application, tokens["refresh_token"]).status_code == HTTPStatus.OK
    assert (timezone.now() - session_of(browser).last_activity).total_seconds() < 5


# --- cost ---------------------------------------------------------------------------------------------


def bind_many(user_session, application, count):
    """``count`` sets of bound access/refresh/ID tokens, created in bulk."""
    import uuid
    from datetime import timedelta

    from oauth2_provider.models import set_token_value

    now = timezone.now()
    ids = IDToken.objects.bulk_create(
        [
            IDToken(
                user=user_session.user,
                application=application,
                jti=uuid.uuid4(),
                expires=now + timedelta(hours=1),
                scope="openid",
            )
            for _ in range(count)
        ]
    )
    ats = []
    for id_token in ids:
        at = AccessToken(
            user=user_session.user,
            application=application,
            id_token=id_token,
            expires=now + timedelta(hours=1),
            scope="openid",
        )
        set_token_value(at, uuid.uuid4().hex)
        ats.append(at)
    ats = AccessToken.objects.bulk_create(ats)
    rts = []
    for at in ats:
        rt = RefreshToken(
            user=user_session.user, application=application, access_token=at, token_family=uuid.uuid4()
        )
        set_token_value(rt, uuid.uuid4().hex)
        rts.append(rt)
    rts = RefreshToken.objects.bulk_create(rts)
    SessionToken.objects.bulk_create(
        [
            SessionToken(user_session=user_session, application=application, **{kind: token})
            for kind, tokens in (("id_token", ids), ("access_token", ats), ("refresh_token", rts))
            for token in tokens
        ]
    )


@pytest.mark.parametrize("count", [1, 300])
def test_ending_a_session_costs_the_same_queries_whatever_the_token_count(
    user, application, settings, django_assert_num_queries, count
):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True}
    user_session = UserSession.objects.create(user=user)
    from django_idp_logout.services.sessions import add_client

    add_client(user_session, application)
    bind_many(user_session, application, count)
    # savepoint pair, lock, mark ended, the session's clients (read once), 7 revocation statements (the
    # bindings, revoke refresh tokens, detach, delete access tokens, the ID tokens still in use, delete
    # ID tokens, delete bindings; no grants here), the look for tokens from before the app (none here);
    # MySQL/MariaDB: 2 more to turn the per-statement foreign key checks off and on around the deletes
    from django.db import connection

    with django_assert_num_queries(13 if connection.features.can_defer_constraint_checks else 15):
        result = api.end_session(user_session=user_session, reason=EndReason.TERMINATED)
    assert result.counts.as_dict() == {
        "refresh_tokens": count,
        "access_tokens": count,
        "id_tokens": count,
        "grants": 0,
    }
    assert live_tokens(application) == (0, 0, 0)
    assert RefreshToken.objects.filter(revoked__isnull=False).count() == count


@pytest.mark.parametrize("clients", [1, 5])
def test_notifying_back_channel_clients_costs_one_insert_whatever_their_number(
    user, application_factory, logout_settings_factory, settings, django_assert_num_queries, clients
):
    """The outbox is written with one INSERT, its ids come back from it (no SELECT after it)."""
    from django_idp_logout.models import BackchannelNotification
    from django_idp_logout.services.sessions import add_client

    # delivery happens after commit, not here; nobody coordinated
    settings.IDP_LOGOUT = {"BACKCHANNEL_DELIVERY": "sync", "COORDINATE_LIFETIME_WITH_USER_SESSION": False}
    user_session = UserSession.objects.create(user=user)
    for _ in range(clients):
        application = application_factory()
        logout_settings_factory(application, backchannel_logout_uri="https://rp.example.com/bc")
        add_client(user_session, application)
    # savepoint pair, lock, mark ended, the session's clients, the look for tokens from before the app
    # was installed, the outbox INSERT
    with django_assert_num_queries(7):
        result = api.end_session(user_session=user_session, reason=EndReason.TERMINATED)
    assert sorted(result.notification_ids) == sorted(
        BackchannelNotification.objects.filter(user_session=user_session).values_list("pk", flat=True)
    )
    assert len(result.notification_ids) == clients


def test_password_change_elsewhere_ends_the_server_side_session(user, application, oidc_login, coordinated):
    """Django flushes a session whose auth hash no longer matches without calling logout(): the
    middleware still ends the UserSession, so coordinated tokens are revoked."""
    browser = Client()
    oidc_login(user, application, browser=browser)
    user_session = session_of(browser)
    user.set_password("a-new-password")
    user.save()
    browser.get("/")
    assert not is_signed_in(browser)
    user_session.refresh_from_db()
    assert user_session.end_reason == EndReason.TERMINATED
    assert live_tokens(application) == (0, 0, 0)


def test_a_failing_signal_receiver_does_not_break_the_logout(
    client, user, application, oidc_login, django_capture_on_commit_callbacks
):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    signals.session_ended.connect(broken, dispatch_uid="test-broken")
    try:
        oidc_login(user, application)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    finally:
        signals.session_ended.disconnect(dispatch_uid="test-broken")
    assert response.status_code == HTTPStatus.FOUND
    assert not is_signed_in(client)
