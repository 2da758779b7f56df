"""The kit's one-time note that the OP signed this browser out (``django_idp_logout.rp.notice``), so a
client site can say "signed out everywhere" instead of a bare "not signed in"."""

from __future__ import annotations

from http import HTTPStatus

from django.test import Client
from django.urls import reverse

from tests.rp.conftest import signed_in_as

NOTICE_COOKIE = "sessionid_signed_out"


def notice(browser) -> bool:
    response = browser.get(reverse("notice"))
    assert response.status_code == HTTPStatus.OK
    return response.json()["signed_out_by_provider"]


def test_backchannel_logout_is_noted_once_on_the_next_request_with_every_engine(
    session_engine, oidc_login, logout_token, op_server
):
    browser = oidc_login(sid="op-sid-1")
    assert notice(browser) is False  # signed in: nothing to say
    assert op_server(logout_token(sid="op-sid-1")).status_code == HTTPStatus.OK
    # Signed cookies: the middleware signs the browser out on this request. Stored sessions: the kit
    # deleted it already, and the dead cookie's session key names a session the OP ended.
    assert notice(browser) is True
    assert notice(browser) is False  # once
    assert signed_in_as(browser) is None


def test_frontchannel_logout_in_the_users_own_browser_leaves_a_one_time_note(fake_op, oidc_login):
    browser = oidc_login(sid="op-sid-1")
    response = browser.get(
        reverse("idp_logout_rp:frontchannel_logout"), {"iss": fake_op.issuer, "sid": "op-sid-1"}
    )
    assert response.status_code == HTTPStatus.OK
    assert response.cookies["sessionid"].value == ""  # the session cookie is still cleared
    note = response.cookies[NOTICE_COOKIE]
    assert note.value == "1" and note["httponly"] and note["samesite"] == "Lax"
    assert notice(browser) is True
    assert notice(browser) is False  # the middleware removed it with that response
    assert NOTICE_COOKIE not in browser.cookies or browser.cookies[NOTICE_COOKIE].value == ""


def test_a_frontchannel_call_for_someone_else_leaves_no_note_here(fake_op, oidc_login):
    mine = oidc_login(sid="op-sid-mine")
    oidc_login(sid="op-sid-theirs")
    response = mine.get(
        reverse("idp_logout_rp:frontchannel_logout"), {"iss": fake_op.issuer, "sid": "op-sid-theirs"}
    )
    assert NOTICE_COOKIE not in response.cookies
    assert notice(mine) is False
    assert signed_in_as(mine) is not None


def test_a_visitor_who_was_never_signed_in_gets_no_note():
    assert notice(Client()) is False


def test_a_local_logout_or_a_stale_cookie_is_not_called_a_logout_everywhere(oidc_login):
    from django_idp_logout.rp.models import RPSession

    browser = oidc_login(sid="op-sid-1")
    RPSession.objects.update(end_reason="local_logout")  # ended here, not by the OP
    from tests.rp.conftest import session_store

    session_store().delete(browser.session.session_key)
    assert notice(browser) is False
    stale = Client()
    stale.cookies["sessionid"] = "x" * 300  # longer than any session key: never looked up
    assert notice(stale) is False
