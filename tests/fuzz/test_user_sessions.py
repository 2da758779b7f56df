"""Property-based tests of the "your sessions" page, its JSON API and the device recorded at login, with
the shared oracle: never a 5xx, no redirect except to our own pages, every reflected value escaped, and a
refused request changes nothing.

A user with two signed-in browsers (one with a real OIDC login: tokens, a session client) and an API
client's token with the ``sessions`` scope send each request, so every example can show that bad input
ended nothing.
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from django_idp_logout.models import UserSession
from tests.fuzz import strategies as hs
from tests.fuzz.oracles import check_response, check_unchanged_on_refusal, state_snapshot
from tests.test_user_sessions import browser_signed_in, sid_of

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

# "end_others" with any value is a valid request that ends sessions; the page's other input is fuzzed.
PAGE_PARAMS = ["end", "csrfmiddlewaretoken"]


@pytest.fixture
def two_browsers(user, application, oidc_login):
    laptop = browser_signed_in(user, "alice-password")
    oidc_login(user, application, browser=laptop)
    phone = browser_signed_in(user, "alice-password")
    return laptop, phone


@pytest.fixture
def api_token(user, two_browsers, application_factory, oidc_login):
    laptop, phone = two_browsers
    portal = application_factory(name="Account Portal", client_id="account-portal")
    return oidc_login(user, portal, browser=phone, scope="openid sessions")["access_token"]


@given(body=hs.query_string(PAGE_PARAMS).filter(lambda q: "end_others" not in q))
def test_sessions_page_post(two_browsers, body):
    laptop, phone = two_browsers
    before = state_snapshot()
    response = phone.post(
        reverse("idp_logout:sessions"), body, content_type="application/x-www-form-urlencoded"
    )
    check_response(response)
    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND)
    check_unchanged_on_refusal(response, before)


@given(odd=hs.odd_bodies)
def test_sessions_page_odd_bodies(two_browsers, odd):
    laptop, phone = two_browsers
    content_type, body = odd
    before = state_snapshot()
    response = phone.generic("POST", reverse("idp_logout:sessions"), data=body, content_type=content_type)
    check_response(response)
    check_unchanged_on_refusal(response, before)


@given(user_agent=hs.hostile_text(), forwarded=hs.hostile_text())
def test_any_user_agent_signs_in_and_is_shown_escaped(user, settings, user_agent, forwarded):
    """Headers hold Latin-1 on the wire; Python strings here also try NUL, surrogates and huge values."""
    settings.IDP_LOGOUT = {"CLIENT_IP_HEADER": "HTTP_X_FORWARDED_FOR"}
    browser = Client(HTTP_USER_AGENT=user_agent + hs.MARKUP_MARKER + ">", HTTP_X_FORWARDED_FOR=forwarded)
    response = browser.post("/accounts/login/", {"username": "alice", "password": "alice-password"})
    check_response(response)
    assert response.status_code == HTTPStatus.FOUND
    stored = UserSession.objects.get(sid=sid_of(browser))
    assert len(stored.user_agent) <= 512 and "\x00" not in stored.user_agent
    page = browser.get(reverse("idp_logout:sessions"))
    assert page.status_code == HTTPStatus.OK
    check_response(page)


@given(
    authorization=st.one_of(hs.hostile_text(), hs.hostile_text().map(lambda t: "Bearer " + t)),
    method=st.sampled_from(["get", "post", "delete", "put", "patch", "options"]),
    sid=st.one_of(st.none(), hs.query_value()),
)
def test_api_without_a_valid_token(two_browsers, authorization, method, sid):
    before = state_snapshot()
    url = reverse("idp_logout:sessions_api") + (f"{sid}/" if sid else "")
    response = getattr(Client(), method)(url, HTTP_AUTHORIZATION=authorization)
    check_response(response)
    assert response.status_code in (400, 401, 403, 404, 405)
    if not (response.status_code == 404 and "html" in response["Content-Type"]):  # a URL of no pattern
        assert response["Content-Type"] == "application/json"
    check_unchanged_on_refusal(response, before)


@given(
    sid=st.one_of(hs.hostile_text().map(hs.encoded), hs.query_value()),
    method=st.sampled_from(["post", "delete"]),
)
def test_api_with_a_valid_token_and_a_bad_sid(api_token, sid, method):
    before = state_snapshot()
    url = reverse("idp_logout:sessions_api") + sid + "/"
    response = getattr(Client(), method)(url, HTTP_AUTHORIZATION=f"Bearer {api_token}")
    check_response(response)
    assert response.status_code in (400, 404)
    check_unchanged_on_refusal(response, before)


@given(
    name=st.sampled_from(["end", "end_others"]),
    value=hs.query_value(),
)
def test_another_users_browser_ends_nothing_of_alice(two_browsers, other_user, name, value):
    """Mallory, signed in herself, posts anything she likes (alice's sids included) and ends nothing of alice's."""
    laptop, phone = two_browsers
    mallory = browser_signed_in(other_user, "mallory-password")
    alice_live = set(
        UserSession.objects.filter(user__username="alice", ended_at__isnull=True).values_list(
            "sid", flat=True
        )
    )
    for body in (f"{name}={value}", f"end={quote(sid_of(laptop))}", f"end={quote(sid_of(phone))}"):
        response = mallory.post(
            reverse("idp_logout:sessions"), body, content_type="application/x-www-form-urlencoded"
        )
        check_response(response, registered_redirects=set())
    assert (
        set(
            UserSession.objects.filter(user__username="alice", ended_at__isnull=True).values_list(
                "sid", flat=True
            )
        )
        == alice_live
    )
