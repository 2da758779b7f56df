"""Tokens issued before the app was installed belong to no session; they end with their user's session.

"Before the app" is reproduced with DOT's own validator and backend (what the project ran before it
added the app): the real code flow at DOT's endpoints issues tokens that nothing binds to a session.
"""

import io
import uuid
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
    set_token_value,
)

from django_idp_logout import api, signals
from django_idp_logout.models import EndReason, SessionToken, UserSession
from django_idp_logout.services.unbound import count_unbound_tokens
from tests.test_sessions import coordinate, refresh
from tests.test_token_endpoint import PLAIN_DOT

pytestmark = pytest.mark.django_db

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
IDToken = get_id_token_model()
Grant = get_grant_model()


@pytest.fixture
def dot_login(oidc_login, settings):
    """The real code flow with DOT's own classes: tokens as a project issued them before the app."""

    def login(user, application, **kwargs):
        ours = settings.OAUTH2_PROVIDER
        settings.OAUTH2_PROVIDER = {**ours, **PLAIN_DOT}
        try:
            return oidc_login(user, application, browser=Client(), **kwargs)
        finally:
            settings.OAUTH2_PROVIDER = ours

    return login


def unbound(application, user=None):
    """(access tokens, unrevoked refresh tokens, ID tokens) of a client bound to no session."""
    filters = {"application": application, "idp_logout_binding__isnull": True}
    if user is not None:
        filters["user"] = user
    return (
        AccessToken.objects.filter(**filters).count(),
        RefreshToken.objects.filter(revoked__isnull=True, **filters).count(),
        IDToken.objects.filter(**filters).count(),
    )


def sign_in_and_log_out(user) -> Client:
    browser = Client()
    browser.force_login(user)
    browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert "_auth_user_id" not in browser.session
    return browser


def test_dot_issued_tokens_are_bound_to_no_session(user, application, dot_login):
    dot_login(user, application)
    assert unbound(application) == (1, 1, 1)
    assert not SessionToken.objects.exists()


def test_logout_of_any_session_revokes_the_users_unbound_tokens_of_coordinated_clients(
    user, other_user, application_factory, dot_login, settings, django_capture_on_commit_callbacks
):
    settings.IDP_LOGOUT = {}  # the default: follows DOT's OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS (True)
    coordinated, free = application_factory(), application_factory()
    coordinate(free, False)
    old = dot_login(user, coordinated)
    dot_login(user, free)
    dot_login(other_user, coordinated)

    received = []

    def on_revoked(sender, **kwargs):
        received.append(kwargs)

    signals.tokens_revoked.connect(on_revoked)
    try:
        # A session started after the app came in, in a browser that never used either client.
        browser = Client()
        browser.force_login(user)
        with django_capture_on_commit_callbacks(execute=True):
            browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    finally:
        signals.tokens_revoked.disconnect(on_revoked)

    assert unbound(coordinated, user) == (0, 0, 0)
    assert RefreshToken.objects.filter(application=coordinated, user=user, revoked__isnull=False).count() == 1
    assert unbound(free, user) == (1, 1, 1)  # not coordinated: kept, as after DOT without DELETE_TOKENS
    assert unbound(coordinated, other_user) == (1, 1, 1)  # another user's tokens: untouched
    response = refresh(Client(), coordinated, old["refresh_token"])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"
    assert received and received[0]["client_ids"] == [coordinated.client_id]
    assert received[0]["counts"] == {"refresh_tokens": 1, "access_tokens": 1, "id_tokens": 1, "grants": 0}


@pytest.mark.parametrize(
    ("global_setting", "per_client", "revoked"),
    [(False, None, False), (False, True, True), (True, False, False), (True, None, True)],
)
def test_coordination_rules_apply_to_unbound_tokens(
    user, application, dot_login, settings, global_setting, per_client, revoked
):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": global_setting}
    if per_client is not None:
        coordinate(application, per_client)
    dot_login(user, application)
    sign_in_and_log_out(user)
    assert unbound(application) == ((0, 0, 0) if revoked else (1, 1, 1))


def test_dot_delete_tokens_false_keeps_unbound_tokens(user, application, dot_login, settings):
    """A project that had turned DOT's deletion off keeps that: nothing coordinated, nothing revoked."""
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": False}
    dot_login(user, application)
    sign_in_and_log_out(user)
    assert unbound(application) == (1, 1, 1)


def test_an_unbound_refresh_token_keeps_working_until_the_logout_then_its_successor_goes_too(
    user, application, dot_login
):
    old = dot_login(user, application)
    response = refresh(Client(), application, old["refresh_token"])
    assert response.status_code == HTTPStatus.OK  # signed-in users keep working after the upgrade
    new = response.json()
    sign_in_and_log_out(user)
    assert unbound(application) == (0, 0, 0)
    assert refresh(Client(), application, new["refresh_token"]).status_code == HTTPStatus.BAD_REQUEST


def test_tokens_of_clients_that_no_browser_session_binds_are_left_alone(user, application_factory):
    """Password and client-credentials tokens are never bound to a session (docs/sessions.md), so
    they are not "from before the app": a browser logout does not touch them."""
    password_client = application_factory(authorization_grant_type="password")
    make_unbound(user, password_client, 3)
    sign_in_and_log_out(user)
    assert unbound(password_client) == (3, 3, 3)


def test_an_unbound_pending_code_goes_with_the_clients_unbound_tokens(user, application):
    make_unbound(user, application, 1)
    Grant.objects.create(
        user=user,
        application=application,
        code="pre-install-code",
        expires=timezone.now() + timedelta(minutes=1),
        redirect_uri="https://rp.example.com/callback",
        scope="openid",
    )
    sign_in_and_log_out(user)
    assert not Grant.objects.filter(code="pre-install-code").exists()
    assert unbound(application) == (0, 0, 0)


def test_offline_access_unbound_tokens_are_kept_when_the_setting_keeps_them(user, application, settings):
    settings.IDP_LOGOUT = {"KEEP_OFFLINE_ACCESS_TOKENS": True}
    make_unbound(user, application, 2, scope="openid offline_access")
    make_unbound(user, application, 1, scope="openid")
    sign_in_and_log_out(user)
    assert unbound(application) == (2, 2, 2)
    assert set(AccessToken.objects.values_list("scope", flat=True)) == {"openid offline_access"}


def make_unbound(user, application, count, *, scope="openid"):
    """``count`` sets of access/refresh/ID tokens of ``user`` bound to no session, in bulk."""
    now = timezone.now()
    id_tokens = IDToken.objects.bulk_create(
        [
            IDToken(user=user, application=application, jti=uuid.uuid4(), expires=now + timedelta(hours=1))
            for _ in range(count)
        ]
    )
    access_tokens = []
    for id_token in id_tokens:
        token = AccessToken(
            user=user,
            application=application,
            id_token=id_token,
            expires=now + timedelta(hours=1),
            scope=scope,
        )
        set_token_value(token, uuid.uuid4().hex)
        access_tokens.append(token)
    access_tokens = AccessToken.objects.bulk_create(access_tokens)
    refresh_tokens = []
    for token in access_tokens:
        refresh_token = RefreshToken(
            user=user, application=application, access_token=token, token_family=uuid.uuid4()
        )
        set_token_value(refresh_token, uuid.uuid4().hex)
        refresh_tokens.append(refresh_token)
    RefreshToken.objects.bulk_create(refresh_tokens)


@pytest.mark.parametrize("count", [1, 300])
def test_revoking_unbound_tokens_costs_the_same_statements_whatever_their_number(
    user, application_factory, django_assert_num_queries, count
):
    first, second = application_factory(), application_factory()
    make_unbound(user, first, count)
    make_unbound(user, second, count)
    user_session = UserSession.objects.create(user=user)
    # savepoint pair, lock, mark ended, the session's clients (none), the look for unbound tokens
    # (finds both clients in one statement), 5 revocation statements for both clients together
    with django_assert_num_queries(11):
        result = api.end_session(user_session=user_session, reason=EndReason.TERMINATED)
    assert result.counts.as_dict() == {
        "refresh_tokens": 2 * count,
        "access_tokens": 2 * count,
        "id_tokens": 2 * count,
        "grants": 0,
    }
    assert unbound(first) == unbound(second) == (0, 0, 0)
    assert result.revoked_client_ids == sorted([first.client_id, second.client_id])


def test_bound_tokens_of_another_session_are_not_unbound(user, application, oidc_login):
    """Tokens issued after the app came in belong to their own session: ending another session of the
    same user leaves them (only tokens bound to nothing go with any session)."""
    oidc_login(user, application, browser=Client())
    sign_in_and_log_out(user)
    assert AccessToken.objects.filter(application=application).count() == 1


# --- idp_logout_unbound_tokens ---------------------------------------------------------------------


def run_report() -> str:
    out = io.StringIO()
    call_command("idp_logout_unbound_tokens", stdout=out)
    return out.getvalue()


def test_report_counts_unbound_tokens_per_client_until_they_are_gone(
    user, other_user, application_factory, dot_login, oidc_login
):
    assert run_report().splitlines()[0] == "No unbound tokens remain."
    portal = application_factory(client_id="portal")
    nightly = application_factory(client_id="nightly")
    coordinate(nightly, False)
    dot_login(user, portal)
    dot_login(other_user, portal)
    dot_login(user, nightly)
    oidc_login(user, portal, browser=Client())  # bound: not counted
    expired = AccessToken.objects.filter(application=portal, user=other_user).first()
    expired.expires = timezone.now() - timedelta(seconds=1)
    expired.save()

    lines = run_report().splitlines()
    assert lines[0].split() == ["client_id", "coordinated", "access", "refresh", "id", "codes"]
    assert lines[1].split() == ["nightly", "no", "1", "1", "1", "0"]
    assert lines[2].split() == ["portal", "yes", "1", "2", "2", "0"]  # the expired access token is gone
    assert "8 unbound tokens in 2 clients" in lines[3]
    assert "3 belong to clients that are not coordinated" in lines[3]

    sign_in_and_log_out(user)
    rows = {row.client_id: row for row in count_unbound_tokens()}
    assert (rows["portal"].access_tokens, rows["portal"].refresh_tokens) == (0, 1)  # other_user's
    assert rows["nightly"].total == 3
    sign_in_and_log_out(other_user)
    assert [row.client_id for row in count_unbound_tokens()] == ["nightly"]


def test_revoke_unbound_tokens_off_leaves_them_and_saves_the_statement(
    user, application, settings, django_assert_num_queries
):
    settings.IDP_LOGOUT = {"REVOKE_UNBOUND_TOKENS": False}
    make_unbound(user, application, 2)
    user_session = UserSession.objects.create(user=user)
    # savepoint pair, lock, mark ended, the session's clients (none): no look for unbound tokens
    with django_assert_num_queries(5):
        api.end_session(user_session=user_session, reason=EndReason.TERMINATED)
    assert unbound(application) == (2, 2, 2)


def test_report_says_when_the_look_can_be_turned_off(settings):
    assert "REVOKE_UNBOUND_TOKENS'] = False" in run_report()
    settings.IDP_LOGOUT = {"REVOKE_UNBOUND_TOKENS": False}
    assert run_report().strip() == "No unbound tokens remain."
