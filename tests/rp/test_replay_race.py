"""Two deliveries of the same logout token at the same moment: exactly one is accepted.

Real threads, real connections: runs in the PostgreSQL and MariaDB passes (IDP_DATABASE=postgres or
mysql); SQLite serialises writers and cannot show the race."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from django_idp_logout.rp.models import ReceivedLogoutToken

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not connection.features.has_select_for_update,
        reason="needs row locks (CI's PostgreSQL and MariaDB passes)",
    ),
]

ROUNDS = 8


def test_a_token_delivered_twice_at_once_is_accepted_once(logout_token):
    url = reverse("idp_logout_rp:backchannel_logout")
    assert Client().post(url, {"logout_token": logout_token(sid="warm-up")}).status_code == 200  # JWKS cached
    for _ in range(ROUNDS):
        token = logout_token()
        barrier = threading.Barrier(2)
        statuses = []

        def deliver(token=token, barrier=barrier, statuses=statuses):
            try:
                barrier.wait()
                statuses.append(Client().post(url, {"logout_token": token}).status_code)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(statuses) == [200, 400]
    assert ReceivedLogoutToken.objects.count() == ROUNDS + 1
