"""A refresh racing with logout never leaves a usable token of the ended session (DESIGN rule 11).

Real threads, real connections, row locks: this runs in CI's PostgreSQL and MariaDB passes
(IDP_DATABASE=postgres / mysql); SQLite serialises writers and cannot show the race.
"""

import threading
from http import HTTPStatus

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from django_idp_logout.browser import SID_SESSION_KEY
from django_idp_logout.models import EndReason, UserSession
from django_idp_logout.services.sessions import end_session

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not connection.features.has_select_for_update,
        reason="needs row locks (CI's PostgreSQL and MariaDB passes)",
    ),
]

ROUNDS = 12


def test_refresh_racing_with_logout_leaves_no_usable_token(user, application, oidc_login, settings):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True}
    outcomes = []
    for _ in range(ROUNDS):
        browser = Client()
        tokens = oidc_login(user, application, browser=browser)
        user_session = UserSession.objects.get(sid=browser.session[SID_SESSION_KEY])
        barrier = threading.Barrier(2)
        results = {}

        def do_refresh(refresh_token=tokens["refresh_token"], barrier=barrier, results=results):
            try:
                barrier.wait()
                results["refresh"] = Client().post(
                    reverse("oauth2_provider:token"),
                    {
                        "grant_type": "refresh_token",
                        "refresh_token": refresh_token,
                        "client_id": application.client_id,
                        "client_secret": application.client_secret,
                    },
                )
            finally:
                connections.close_all()

        def do_logout(session=user_session, barrier=barrier, results=results):
            try:
                barrier.wait()
                results["end"] = end_session(user_session=session, reason=EndReason.TERMINATED)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=do_refresh), threading.Thread(target=do_logout)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert results["end"].ended_now
        refresh_response = results["refresh"]
        outcomes.append(refresh_response.status_code)
        assert refresh_response.status_code in (HTTPStatus.OK, HTTPStatus.BAD_REQUEST), (
            refresh_response.content
        )
        # Whatever the interleaving: nothing of this session is usable afterwards.
        assert (
            not get_access_token_model()
            .objects.filter(idp_logout_binding__user_session=user_session)
            .exists()
        )
        assert (
            not get_refresh_token_model()
            .objects.filter(idp_logout_binding__user_session=user_session, revoked__isnull=True)
            .exists()
        )
        if refresh_response.status_code == HTTPStatus.OK:
            new_refresh = refresh_response.json()["refresh_token"]
            again = Client().post(
                reverse("oauth2_provider:token"),
                {
                    "grant_type": "refresh_token",
                    "refresh_token": new_refresh,
                    "client_id": application.client_id,
                    "client_secret": application.client_secret,
                },
            )
            assert again.json()["error"] == "invalid_grant"
    assert len(outcomes) == ROUNDS
