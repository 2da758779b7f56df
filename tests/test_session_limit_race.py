"""Concurrent logins of one user never leave more live sessions than MAX_SESSIONS_PER_USER.

Real threads, each with its own connection and browser, logging in through the login form at the same
moment (a barrier), on PostgreSQL (row locks; SQLite serialises writers and cannot show the race).
"""

import threading
from http import HTTPStatus

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from django_idp_logout.models import EndReason, UserSession

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL row locks (CI's PostgreSQL pass)"
    ),
]

THREADS = 6
ROUNDS = 3
LIMIT = 2


def concurrent_logins(user) -> list:
    barrier = threading.Barrier(THREADS)
    responses = [None] * THREADS

    def login(index):
        try:
            browser = Client(HTTP_USER_AGENT=f"Firefox/{100 + index}.0")
            barrier.wait()
            responses[index] = browser.post(
                "/accounts/login/", {"username": user.get_username(), "password": "alice-password"}
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=login, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


@pytest.mark.parametrize("policy", ["end_oldest", "deny_new"])
def test_concurrent_logins_never_exceed_the_limit(user, settings, policy):
    settings.IDP_LOGOUT = {"MAX_SESSIONS_PER_USER": LIMIT, "SESSION_LIMIT_POLICY": policy}
    for _ in range(ROUNDS):
        responses = concurrent_logins(user)
        assert all(r is not None and r.status_code == HTTPStatus.FOUND for r in responses)
        live = UserSession.objects.filter(user=user, ended_at__isnull=True).count()
        assert live == LIMIT
        refused = [r for r in responses if r["Location"] == reverse("idp_logout:session_limit")]
        if policy == "deny_new":
            # The first round fills the limit; every later login is refused.
            assert len(refused) == THREADS - LIMIT or len(refused) == THREADS
        else:
            assert refused == []
    ended = UserSession.objects.filter(user=user, ended_at__isnull=False)
    if policy == "end_oldest":
        assert ended.count() == THREADS * ROUNDS - LIMIT
        assert set(ended.values_list("end_reason", flat=True)) == {EndReason.SESSION_LIMIT}
    else:
        assert UserSession.objects.filter(user=user).count() == LIMIT
