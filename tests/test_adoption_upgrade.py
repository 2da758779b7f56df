"""The upgrade, end to end, on a database that plain DOT has run.

With the app's tables absent (``migrate django_idp_logout zero``), DOT's own classes, URLs and no
receivers of ours, users sign in and run the real code flow. Then the app is migrated in and switched
on, and the rules of docs/adopting.md hold: signed-in users keep working and get a session on their next
request, their logout ends it, and their tokens from before are revoked with it for coordinated clients
only; the report counts what is left.
"""

import io
from contextlib import contextmanager
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from oauth2_provider.models import get_access_token_model

from django_idp_logout import receivers
from django_idp_logout.models import EndReason, UserSession
from tests.conftest import POST_LOGOUT_URI, end_session_url
from tests.test_adoption_unbound import unbound
from tests.test_sessions import coordinate, refresh
from tests.test_token_endpoint import PLAIN_DOT

APP = "django_idp_logout"
OUR_MIDDLEWARE = "django_idp_logout.middleware.UserSessionMiddleware"


def app_tables() -> set[str]:
    with connection.cursor() as cursor:
        names = set(connection.introspection.table_names(cursor))
    return {name for name in names if name.startswith(f"{APP}_")}


@contextmanager
def plain_dot_project(settings):
    """The project as it ran before: the app not in INSTALLED_APPS (so DOT's models know no relation
    to ours), DOT's validator, backend and URLs, no middleware or receivers of ours."""
    user_logged_in.disconnect(dispatch_uid="django_idp_logout.receivers.start_session")
    user_logged_out.disconnect(dispatch_uid="django_idp_logout.receivers.end_session")
    try:
        with override_settings(
            INSTALLED_APPS=[app for app in settings.INSTALLED_APPS if app != APP],
            OAUTH2_PROVIDER={**settings.OAUTH2_PROVIDER, **PLAIN_DOT},
            MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != OUR_MIDDLEWARE],
            ROOT_URLCONF="tests.urls_plain_dot",
        ):
            # Re-populating the registry does not expire the models' cached relations (it runs while
            # the registry is not ready): do it, or DOT's deletes would still cascade into our tables.
            apps.clear_cache()
            yield
    finally:
        user_logged_in.connect(
            receivers.start_or_resume_session, dispatch_uid="django_idp_logout.receivers.start_session"
        )
        user_logged_out.connect(
            receivers.end_session_on_logout, dispatch_uid="django_idp_logout.receivers.end_session"
        )


@pytest.fixture
def app_migrated_out():
    call_command("migrate", APP, "zero", verbosity=0)
    assert app_tables() == set()
    yield
    call_command("migrate", APP, verbosity=0)  # whatever happened, leave the database whole


def restarted(browser: Client) -> Client:
    """The same browser talking to the restarted server (a test Client keeps its middleware chain)."""
    fresh = Client()
    fresh.cookies = browser.cookies
    return fresh


def report() -> list[list[str]]:
    out = io.StringIO()
    call_command("idp_logout_unbound_tokens", stdout=out)
    return [line.split() for line in out.getvalue().splitlines()]


@pytest.mark.django_db(transaction=True)
@override_settings(SESSION_ENGINE="django.contrib.sessions.backends.db", IDP_LOGOUT={})
def test_upgrade_from_plain_dot_keeps_users_signed_in_and_revokes_their_old_tokens_at_logout(
    app_migrated_out, settings, django_user_model, application_factory, oidc_login
):
    # --- Before: plain DOT ------------------------------------------------------------------------
    with plain_dot_project(settings):
        alice = django_user_model.objects.create_user("alice", password="a")
        bob = django_user_model.objects.create_user("bob", password="b")
        portal = application_factory(client_id="portal")
        nightly = application_factory(client_id="nightly")
        alice_browser, bob_browser = Client(), Client()
        alice_portal = oidc_login(alice, portal, browser=alice_browser)
        alice_nightly = oidc_login(alice, nightly, browser=alice_browser)
        oidc_login(bob, portal, browser=bob_browser)
        assert app_tables() == set()  # DOT ran with the app's tables absent

    # --- The upgrade: migrate the app in; the operator keeps "nightly" out of coordination --------
    call_command("migrate", APP, verbosity=0)
    assert f"{APP}_usersession" in app_tables()
    coordinate(nightly, False)
    assert report()[1:3] == [
        ["nightly", "no", "1", "1", "1", "0"],
        ["portal", "yes", "2", "2", "2", "0"],
    ]

    # --- After: the server restarts with the app; the browsers keep their cookies -----------------
    alice_browser, bob_browser = restarted(alice_browser), restarted(bob_browser)
    # Alice is still signed in, and gets a session on her next request.
    response = alice_browser.get("/")
    assert response.context["user"] == alice
    alice_session = UserSession.objects.get(user=alice)
    assert alice_session.ended_at is None
    # Her clients keep working: a refresh of a token from before the upgrade succeeds.
    refreshed = refresh(Client(), portal, alice_portal["refresh_token"])
    assert refreshed.status_code == HTTPStatus.OK
    alice_portal = refreshed.json()

    # --- Alice logs out at portal's request, with the ID token DOT issued before the upgrade -------
    start = alice_browser.get(
        end_session_url(id_token_hint=alice_portal["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    assert start.status_code == HTTPStatus.FOUND
    prompt = alice_browser.get(start["Location"])
    # portal never took part in this (new) session: the prompt is shown, as for any such client
    assert prompt.status_code == HTTPStatus.OK
    logout_id = prompt.context["form"]["logout_id"].value()
    done = alice_browser.post(reverse("idp_logout:logout"), {"logout_id": logout_id, "confirm": "yes"})
    while done.status_code == HTTPStatus.FOUND and urlsplit(done["Location"]).netloc == "":
        done = alice_browser.get(done["Location"])
    assert done["Location"] == POST_LOGOUT_URI

    alice_session.refresh_from_db()
    assert alice_session.end_reason == EndReason.USER_LOGOUT
    assert not alice_browser.get("/").context["user"].is_authenticated
    assert unbound(portal, alice) == (0, 0, 0)  # coordinated (the default follows DOT): revoked
    assert refresh(Client(), portal, alice_portal["refresh_token"]).status_code == HTTPStatus.BAD_REQUEST
    assert unbound(nightly, alice) == (1, 1, 1)  # not coordinated: kept
    assert unbound(portal, bob) == (1, 1, 1)  # Bob did not log out
    assert report()[1:3] == [
        ["nightly", "no", "1", "1", "1", "0"],
        ["portal", "yes", "1", "1", "1", "0"],
    ]
    assert refresh(Client(), nightly, alice_nightly["refresh_token"]).status_code == HTTPStatus.OK
    assert bob_browser.get("/").context["user"] == bob


@pytest.mark.django_db(transaction=True)
@override_settings(SESSION_ENGINE="django.contrib.sessions.backends.db", IDP_LOGOUT={})
def test_rollback_migrate_zero_then_plain_dot_keeps_tokens_and_dots_own_logout(
    settings, django_user_model, application_factory, oidc_login
):
    """docs/adopting.md, "Rollback": with the app, tokens are bound to sessions; after
    ``migrate django_idp_logout zero`` and the release without the app, DOT works on alone: the tokens
    refresh, and DOT's own logout deletes them (no foreign key of ours is left in the way)."""
    alice = django_user_model.objects.create_user("alice", password="a")
    portal = application_factory(client_id="portal")
    browser = Client()
    tokens = oidc_login(alice, portal, browser=browser)
    assert unbound(portal) == (0, 0, 0)  # bound to Alice's session

    call_command("migrate", APP, "zero", verbosity=0)
    try:
        with plain_dot_project(settings):
            browser = restarted(browser)
            userinfo = browser.get(
                reverse("oauth2_provider:user-info"), HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}"
            )
            assert userinfo.status_code == HTTPStatus.OK
            refreshed = refresh(Client(), portal, tokens["refresh_token"])
            assert refreshed.status_code == HTTPStatus.OK
            assert browser.session["_auth_user_id"] == str(alice.pk)  # still signed in
            response = browser.post(
                reverse("oauth2_provider:rp-initiated-logout"),
                {"id_token_hint": refreshed.json()["id_token"], "allow": True},
            )
            assert response.status_code == HTTPStatus.FOUND
            assert "_auth_user_id" not in browser.session
            assert not get_access_token_model().objects.filter(user=alice).exists()  # DOT deleted them
    finally:
        call_command("migrate", APP, verbosity=0)
