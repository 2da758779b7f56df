"""``services.id_lists``: filters by a list of ids the caller holds (one array parameter on PostgreSQL)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_idp_logout.models import UserSession
from django_idp_logout.services import id_lists
from django_idp_logout.services.id_lists import any_of, chunked

pytestmark = pytest.mark.django_db


def test_any_of_finds_exactly_the_given_ids(user):
    sessions = [UserSession.objects.create(user=user) for _ in range(5)]
    wanted = [sessions[0].pk, sessions[3].pk, 10**9]
    with CaptureQueriesContext(connection) as captured:
        found = set(UserSession.objects.filter(any_of("pk", wanted)).values_list("pk", flat=True))
    assert found == {sessions[0].pk, sessions[3].pk}
    if connection.vendor == "postgresql":  # one parameter, whatever the number of ids
        assert "= ANY(" in captured.captured_queries[0]["sql"]


def test_any_of_on_a_text_column_is_a_plain_in_list(user):
    """Only integer ids become an array literal; anything else (a swapped model's UUID key, a text
    column) stays Django's own IN list."""
    one, two = UserSession.objects.create(user=user), UserSession.objects.create(user=user)
    found = set(UserSession.objects.filter(any_of("sid", [one.sid, "nope"])).values_list("pk", flat=True))
    assert found == {one.pk} and two.pk not in found


def test_chunked_keeps_each_statement_under_the_databases_limit(monkeypatch):
    monkeypatch.setattr(id_lists, "CHUNK", 2)
    pieces = list(chunked(UserSession, [1, 2, 3, 4, 5]))
    if connection.vendor == "postgresql":
        assert pieces == [[1, 2, 3, 4, 5]]  # one array parameter: no limit
    else:
        assert pieces == [[1, 2], [3, 4], [5]]
    assert list(chunked(UserSession, [])) == []
