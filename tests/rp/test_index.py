"""The session index: filled at login, closed at local logout, enforced by ``RPLogoutMiddleware``,
cleaned by ``idp_logout_rp_cleanup``."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_idp_logout.rp import services
from django_idp_logout.rp.models import ReceivedLogoutToken, RPSession
from tests.rp.conftest import RP_MIDDLEWARE, email_username, session_store, signed_in_as


def test_login_indexes_the_session_by_iss_sub_and_sid(session_engine, fake_op, oidc_login, django_user_model):
    browser = oidc_login(sub="alice-sub", sid="op-sid-1", email="alice@example.com")

    row = RPSession.objects.get()
    assert (row.issuer, row.sub, row.sid) == (fake_op.issuer, "alice-sub", "op-sid-1")
    assert row.user == django_user_model.objects.get(username=email_username("alice@example.com"))
    assert row.ended_at is None
    assert browser.session[services.LOCAL_KEY_SESSION_KEY] == row.local_key
    if session_engine == "signed_cookies":
        assert row.session_key == ""
    else:
        assert row.session_key == browser.session.session_key


def test_an_id_token_without_sid_is_indexed_by_sub(oidc_login, logout_token, op_server):
    browser = oidc_login(sid=None)
    assert RPSession.objects.get().sid == ""

    op_server(logout_token(sid="op-sid-1"))  # a sid this session never had
    assert signed_in_as(browser) is not None
    op_server(logout_token(sid=None))
    assert signed_in_as(browser) is None


def test_a_login_from_another_issuer_is_not_indexed(settings, fake_op, oidc_login):
    settings.IDP_LOGOUT_RP = {**settings.IDP_LOGOUT_RP, "ISSUER": "https://other-op.example.com"}
    browser = oidc_login()
    assert not RPSession.objects.exists()
    assert services.LOCAL_KEY_SESSION_KEY not in browser.session
    assert signed_in_as(browser) is not None


def test_without_a_stored_id_token_nothing_is_indexed(settings, oidc_login):
    settings.OIDC_STORE_ID_TOKEN = False
    browser = oidc_login()
    assert not RPSession.objects.exists()
    assert signed_in_as(browser) is not None


def same_cookies(browser) -> Client:
    """A new client (which loads MIDDLEWARE afresh) with the browser's cookies."""
    clone = Client()
    clone.cookies = browser.cookies
    return clone


def test_a_password_login_is_not_indexed_and_costs_no_extra_query(settings, django_user_model):
    user = django_user_model.objects.create_user("carol", password="carol-password")
    browser = Client()
    browser.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    assert not RPSession.objects.exists()

    with CaptureQueriesContext(connection) as with_middleware:
        assert signed_in_as(browser) == "carol"
    settings.MIDDLEWARE = [m for m in RP_MIDDLEWARE if "RPLogoutMiddleware" not in m]
    with CaptureQueriesContext(connection) as without_middleware:
        assert signed_in_as(same_cookies(browser)) == "carol"
    assert len(with_middleware) == len(without_middleware)


def test_a_new_login_in_the_same_session_replaces_the_row(oidc_login, logout_token, op_server):
    browser = oidc_login(sid="op-sid-1")
    old_local_key = browser.session[services.LOCAL_KEY_SESSION_KEY]

    # The same user signs in again without logging out (Django keeps the session data on cycle_key).
    assert browser.post("/relogin/").status_code == 200

    old = RPSession.objects.get(local_key=old_local_key)
    new = RPSession.objects.get(ended_at__isnull=True)
    assert old.end_reason == "replaced"
    assert browser.session[services.LOCAL_KEY_SESSION_KEY] == new.local_key
    assert (new.sid, new.sub) == ("op-sid-1", "alice-sub")
    assert signed_in_as(browser) is not None
    op_server(logout_token(sid="op-sid-1"))
    assert signed_in_as(browser) is None


def test_a_session_whose_key_was_cycled_is_still_logged_out(oidc_login, logout_token, op_server):
    browser = oidc_login(sid="op-sid-1")
    old_key = browser.session.session_key
    new_key = browser.get("/cycle/").json()["session_key"]
    assert new_key != old_key and RPSession.objects.get().session_key == old_key

    op_server(logout_token(sid="op-sid-1"))

    # The stored-session shortcut missed (stale key); the middleware's denylist did not.
    assert session_store().exists(new_key)
    assert signed_in_as(browser) is None
    assert not session_store().exists(new_key)


def test_local_logout_ends_the_row(oidc_login):
    browser = oidc_login()
    browser.post("/oidc/logout/")
    row = RPSession.objects.get()
    assert row.ended_at is not None and row.end_reason == "local_logout"


@pytest.mark.parametrize("engine", ["db", "signed_cookies"])
def test_a_session_without_its_index_row_is_refused(settings, engine, oidc_login):
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{engine}"
    browser = oidc_login()
    RPSession.objects.all().delete()  # e.g. removed by the cleanup after INDEX_MAX_AGE
    assert signed_in_as(browser) is None


def test_the_middleware_costs_one_query_for_an_oidc_session(settings, oidc_login):
    browser = oidc_login()
    with CaptureQueriesContext(connection) as with_middleware:
        assert signed_in_as(browser) is not None
    settings.MIDDLEWARE = [m for m in RP_MIDDLEWARE if "RPLogoutMiddleware" not in m]
    with CaptureQueriesContext(connection) as without_middleware:
        assert signed_in_as(same_cookies(browser)) is not None
    assert len(with_middleware) == len(without_middleware) + 1


def test_cleanup_deletes_expired_records_and_ended_rows(settings, oidc_login, logout_token, op_server):
    live = oidc_login(sid="op-sid-live")
    oidc_login(sid="op-sid-ended")
    op_server(logout_token(sid="op-sid-ended"))
    ReceivedLogoutToken.objects.create(digest="0" * 64, expires_at=timezone.now() - timedelta(seconds=1))
    assert ReceivedLogoutToken.objects.count() == 2

    out = StringIO()
    call_command("idp_logout_rp_cleanup", stdout=out)

    assert "Deleted 1 logout token record(s), 1 ended session row(s) and 0 session row(s)" in out.getvalue()
    assert ReceivedLogoutToken.objects.count() == 1  # the fresh one still guards against a replay
    assert list(RPSession.objects.values_list("sid", flat=True)) == ["op-sid-live"]
    assert signed_in_as(live) is not None


def test_index_max_age_gives_oidc_sessions_an_absolute_lifetime(settings, oidc_login):
    settings.IDP_LOGOUT_RP = {**settings.IDP_LOGOUT_RP, "INDEX_MAX_AGE": 3600}
    old = oidc_login(sid="op-sid-old")
    fresh = oidc_login(sid="op-sid-fresh")
    RPSession.objects.filter(sid="op-sid-old").update(created_at=timezone.now() - timedelta(hours=2))

    counts = services.clear_expired()

    assert counts.old_sessions == 1
    assert signed_in_as(old) is None
    assert signed_in_as(fresh) is not None


def test_the_middleware_leaves_anonymous_responses_cacheable():
    response = Client().get("/public/")
    assert "Cookie" not in response.get("Vary", "")
