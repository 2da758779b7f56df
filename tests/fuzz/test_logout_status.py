"""Property-based tests of the logged-out page's status view (``idp_logout:logout_status``) and the
admin's "End this session" URL: whatever the id, a JSON answer (200 for this one logout, else 400),
never a 5xx, nothing changed, nothing about another session.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from django_idp_logout.models import UserSession
from tests.fuzz import strategies as hs
from tests.fuzz.oracles import check_response, check_unchanged_on_refusal, state_snapshot

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]


@pytest.fixture
def logout(user, other_user, application, logout_settings_factory, oidc_login):
    """alice signed out of a session with a back-channel client; mallory still signed in elsewhere."""
    logout_settings_factory(application, backchannel_logout_uri="https://rp.example.com/bc")
    alice, mallory = Client(), Client()
    oidc_login(user, application, browser=alice)
    oidc_login(other_user, application, browser=mallory)
    response = alice.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    completed_id = parse_qs(urlsplit(response["Location"]).query)["id"][0]
    return alice, completed_id


def assert_json_answer(response) -> dict:
    check_response(response)
    assert response.status_code in (200, 400), response.status_code
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    return response.json()


@given(query=st.one_of(hs.query_string(["id"]), hs.query_value().map(lambda v: f"id={v}")))
def test_any_query_gets_a_json_answer_and_changes_nothing(logout, query):
    browser, _completed_id = logout
    before = state_snapshot()
    response = browser.get(f"{reverse('idp_logout:logout_status')}?{query}")
    body = assert_json_answer(response)
    check_unchanged_on_refusal(response, before)
    assert state_snapshot() == before  # a read, even when it answers 200
    if response.status_code == 400:
        assert body["error"] == "invalid_request"


mutations = st.one_of(
    st.tuples(st.just("insert"), st.integers(min_value=0), hs.hostile_text()),
    st.tuples(st.just("replace"), st.integers(min_value=0), st.sampled_from("AZaz09-_:.~\x00")),
    st.tuples(st.just("truncate"), st.integers(min_value=0), st.just("")),
)


@given(mutation=mutations)
def test_a_tampered_completed_id_is_refused(logout, mutation):
    browser, completed_id = logout
    kind, position, text = mutation
    position %= len(completed_id) + 1
    if kind == "insert":
        tampered = completed_id[:position] + text + completed_id[position:]
    elif kind == "replace":
        tampered = completed_id[:position] + text + completed_id[position + 1 :]
    else:
        tampered = completed_id[:position]
    before = state_snapshot()
    response = browser.get(
        f"{reverse('idp_logout:logout_status')}?id={quote(tampered.encode('utf-8', 'surrogatepass'), safe='')}"
    )
    body = assert_json_answer(response)
    assert state_snapshot() == before
    if tampered != completed_id and response.status_code == 200:
        # A change that the signature does not cover (none should exist) may show only this logout.
        assert [c["client_id"] for c in body["clients"]] == ["example-rp"]


@given(object_id=hs.hostile_text())
def test_admin_end_url_with_any_id_is_never_a_500(admin_client, user, object_id):
    UserSession.objects.get_or_create(user=user, defaults={})
    own_ids = {str(pk) for pk in UserSession.objects.active().values_list("pk", flat=True)}
    before = state_snapshot()
    url = reverse("admin:django_idp_logout_usersession_changelist") + quote(
        object_id.encode("utf-8", "surrogatepass"), safe=""
    )
    response = admin_client.post(f"{url}/end/")
    check_response(response)
    if object_id not in own_ids:  # only the exact id of a live session may end one
        assert state_snapshot() == before, (object_id, response.status_code)
