"""Property-based tests (hypothesis) of the "your sessions" page, its JSON API and the device recorded at
login. Oracle: never a 5xx; no redirect except to our own sessions page; every reflected value escaped;
bad input ends nothing (the sessions, tokens and outbox are as before).

(Written before the shared harness in tests/fuzz/ landed; the oracle is inline and the same.)
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import quote, quote_from_bytes

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from django_idp_logout.models import BackchannelNotification, UserSession
from tests.test_user_sessions import browser_signed_in, sid_of

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

MARKER = "<x-fuzz"
NASTY = [
    "",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\u202e",
    "\r\n",
    "%00",
    "..",
    '"',
    f'"><{MARKER[1:]} a=1>',
]
any_character = st.characters(codec=None, exclude_categories=())
hostile_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(any_character, max_size=24),
    st.integers(min_value=200, max_value=20_000).map(lambda n: "A" * n),
)
form_value = st.one_of(
    hostile_text.map(lambda v: quote(v.encode("utf-8", "surrogatepass"), safe="")),
    st.binary(max_size=32).map(lambda b: quote_from_bytes(b, safe="")),
)
form_name = st.one_of(
    st.sampled_from(["end", "end_others", "csrfmiddlewaretoken"]), st.text(max_size=8).map(quote)
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def snapshot() -> tuple:
    return (
        list(UserSession.objects.order_by("pk").values_list("pk", "ended_at", "end_reason")),
        list(get_access_token_model().objects.order_by("pk").values_list("pk", flat=True)),
        list(get_refresh_token_model().objects.order_by("pk").values_list("pk", "revoked")),
        BackchannelNotification.objects.count(),
    )


def check(response, *, allowed_location: str | None = None) -> None:
    assert response.status_code < 500, response.content[:300]
    if 300 <= response.status_code < 400:
        assert response["Location"] == allowed_location, response["Location"]
    if "html" in response.get("Content-Type", ""):
        assert MARKER not in response.content.decode("utf-8", "replace").lower()


@pytest.fixture
def two_browsers(user, application, oidc_login):
    laptop = browser_signed_in(user, "alice-password")
    oidc_login(user, application, browser=laptop)
    phone = browser_signed_in(user, "alice-password")
    return laptop, phone


@FUZZ
@given(pairs=st.lists(st.tuples(form_name.filter(lambda n: n != "end_others"), form_value), max_size=4))
def test_sessions_page_post_never_fails_and_bad_input_ends_nothing(two_browsers, pairs):
    laptop, phone = two_browsers
    before = snapshot()
    body = "&".join(f"{name}={value}" for name, value in pairs)
    response = phone.post(
        reverse("idp_logout:sessions"), body, content_type="application/x-www-form-urlencoded"
    )
    check(response)
    assert response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND)
    assert snapshot() == before


@FUZZ
@given(
    content_type=st.sampled_from(["application/json", "text/plain", "multipart/form-data", ""]),
    body=st.binary(max_size=64),
)
def test_sessions_page_odd_bodies(two_browsers, content_type, body):
    laptop, phone = two_browsers
    before = snapshot()
    response = phone.post(reverse("idp_logout:sessions"), body, content_type=content_type)
    check(response)
    assert snapshot() == before


@FUZZ
@given(user_agent=hostile_text, forwarded=hostile_text)
def test_any_user_agent_signs_in_and_is_shown_escaped(user, settings, user_agent, forwarded):
    settings.IDP_LOGOUT = {"CLIENT_IP_HEADER": "HTTP_X_FORWARDED_FOR"}
    browser = Client(HTTP_USER_AGENT=user_agent + MARKER + ">", HTTP_X_FORWARDED_FOR=forwarded)
    response = browser.post("/accounts/login/", {"username": "alice", "password": "alice-password"})
    assert response.status_code == HTTPStatus.FOUND
    stored = UserSession.objects.get(sid=sid_of(browser))
    assert len(stored.user_agent) <= 512 and "\x00" not in stored.user_agent
    page = browser.get(reverse("idp_logout:sessions"))
    assert page.status_code == HTTPStatus.OK
    check(page)


@pytest.fixture
def api_token(user, two_browsers, application_factory, oidc_login):
    laptop, phone = two_browsers
    portal = application_factory(name="Account Portal", client_id="account-portal")
    return oidc_login(user, portal, browser=phone, scope="openid sessions")["access_token"]


@FUZZ
@given(
    authorization=st.one_of(hostile_text, hostile_text.map(lambda t: "Bearer " + t)),
    method=st.sampled_from(["get", "post", "delete", "put", "patch"]),
    sid=st.one_of(st.none(), st.text(max_size=300).map(lambda s: quote(s, safe=""))),
)
def test_api_never_fails_without_a_valid_token(db, authorization, method, sid):
    before = snapshot()
    url = reverse("idp_logout:sessions_api") + (f"{sid}/" if sid else "")
    response = getattr(Client(), method)(url, HTTP_AUTHORIZATION=authorization)
    check(response)
    assert response.status_code in (400, 401, 403, 404, 405)
    if response.status_code != 404:  # 404: the sid made the URL match no pattern (Django's own page)
        assert response["Content-Type"] == "application/json"
    assert snapshot() == before


@FUZZ
@given(
    sid=st.one_of(hostile_text, st.binary(max_size=40).map(lambda b: b.hex())),
    method=st.sampled_from(["post", "delete"]),
)
def test_api_with_a_valid_token_ends_nothing_for_a_bad_sid(api_token, sid, method):
    before = snapshot()
    url = reverse("idp_logout:sessions_api") + quote(sid.encode("utf-8", "surrogatepass"), safe="") + "/"
    response = getattr(Client(), method)(url, HTTP_AUTHORIZATION=f"Bearer {api_token}")
    check(response)
    assert response.status_code in (400, 404)
    assert snapshot() == before
