"""Property-based tests of the identity provider's pages: the end session endpoint (under our URL name
and DOT's), the logout prompt, the logged-out page and the external logout callback.

A signed-in browser with a real OIDC login (tokens, a session client) sends each request, so every
example can show that bad input changed nothing.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st
from jwcrypto import jws
from oauth2_provider.utils import jwk_from_pem

from tests.conftest import ISSUER, POST_LOGOUT_URI
from tests.fuzz import strategies as hs
from tests.fuzz.oracles import check_response, state_snapshot
from tests.keys import pem

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

END_SESSION_PARAMS = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "ui_locales",
    "logout_hint",
]
END_SESSION_URLS = ["idp_logout:end_session", "oauth2_provider:rp-initiated-logout"]
HINT_HEADER = ["alg", "kid", "typ", "crit", "b64", "jku", "x5u", "jwk"]
HINT_CLAIMS = ["iss", "sub", "aud", "sid", "exp", "iat", "jti", "nonce", "azp"]
REGISTERED = {POST_LOGOUT_URI}


def signed_by_us(claims: dict) -> str:
    """A hint really signed with the OP's key, so only its claims are hostile (as with an HS256 client,
    which signs with its own secret and so chooses every claim)."""
    key = jwk_from_pem(pem("active"))
    token = jws.JWS(hs.to_json(claims))
    token.add_signature(key, alg="RS256", protected=json.dumps({"alg": "RS256", "kid": key.thumbprint()}))
    return token.serialize(compact=True)


hostile_signed_hints = st.builds(
    lambda extra: signed_by_us({"iss": ISSUER, "aud": "example-rp", "sub": "fuzz-subject", **extra}),
    hs.claims(HINT_CLAIMS),
)
hints = st.one_of(hs.tokens(header_names=HINT_HEADER, claim_names=HINT_CLAIMS), hostile_signed_hints)
end_session_queries = st.one_of(
    hs.query_string(END_SESSION_PARAMS),
    st.tuples(hints.map(lambda t: "id_token_hint=" + hs.encoded(t)), hs.query_string(END_SESSION_PARAMS)).map(
        "&".join
    ),
)


@pytest.fixture
def browser(user, application, oidc_login):
    browser = Client()
    oidc_login(user, application, browser=browser)
    return browser


def follow_own_pages(browser, response, *, hops: int = 3):
    """Follow redirects to our own pages (the prompt, the logged-out page), checking each answer."""
    for _ in range(hops):
        check_response(response, registered_redirects=REGISTERED)
        location = response.get("Location", "")
        if not (300 <= response.status_code < 400 and location.startswith("/")):
            return response
        response = browser.get(location)
    check_response(response, registered_redirects=REGISTERED)
    return response


@pytest.mark.parametrize("url_name", END_SESSION_URLS)
@given(query=end_session_queries)
def test_end_session_get(browser, url_name, query):
    before = state_snapshot()
    response = browser.get(f"{reverse(url_name)}?{query}")
    check_response(response, registered_redirects=frozenset())  # only ever to our own logout page
    assert state_snapshot() == before  # the endpoint itself signs nobody out (DESIGN rule 1)
    follow_own_pages(browser, response)


@given(body=end_session_queries)
def test_end_session_post_form(browser, body):
    before = state_snapshot()
    response = browser.post(
        reverse("idp_logout:end_session"), data=body, content_type="application/x-www-form-urlencoded"
    )
    check_response(response)
    assert state_snapshot() == before


@given(body=hs.odd_bodies)
def test_end_session_post_odd_content_types(browser, body):
    content_type, data = body
    before = state_snapshot()
    response = browser.generic(
        "POST", reverse("idp_logout:end_session"), data=data, content_type=content_type
    )
    check_response(response)
    assert state_snapshot() == before


@given(logout_id=hs.query_value())
def test_logout_page_get_with_a_forged_logout_id_signs_nobody_out(browser, logout_id):
    before = state_snapshot()
    response = browser.get(f"{reverse('idp_logout:logout')}?logout_id={logout_id}")
    check_response(response)
    assert state_snapshot() == before
    assert "_auth_user_id" in browser.session


@pytest.fixture
def csrf_checking_browser(user, application, oidc_login):
    browser = Client(enforce_csrf_checks=True)
    oidc_login(user, application, browser=browser)
    return browser


@given(body=st.one_of(hs.query_string(["logout_id", "cancel", "csrfmiddlewaretoken"]), hs.odd_bodies))
def test_logout_page_post_without_csrf_token_is_refused(csrf_checking_browser, body):
    before = state_snapshot()
    if isinstance(body, tuple):
        content_type, data = body
    else:
        content_type, data = "application/x-www-form-urlencoded", body
    response = csrf_checking_browser.generic(
        "POST", reverse("idp_logout:logout"), data=data, content_type=content_type
    )
    check_response(response)
    assert response.status_code == 403
    assert state_snapshot() == before


@given(logout_id=hs.query_value())
def test_logout_page_cancel_with_a_forged_logout_id_changes_nothing(browser, logout_id):
    before = state_snapshot()
    response = browser.post(
        reverse("idp_logout:logout"),
        data=f"cancel=1&logout_id={logout_id}",
        content_type="application/x-www-form-urlencoded",
    )
    check_response(response)
    assert state_snapshot() == before


@pytest.mark.parametrize(
    ("url_name", "param"), [("idp_logout:logged_out", "id"), ("idp_logout:external_logout_callback", "state")]
)
@given(query=st.data())
def test_logged_out_and_external_callback(browser, url_name, param, query):
    query = query.draw(st.one_of(hs.query_string([param]), hs.query_value().map(lambda v: f"{param}={v}")))
    before = state_snapshot()
    response = browser.get(f"{reverse(url_name)}?{query}")
    check_response(response, registered_redirects=REGISTERED)
    assert state_snapshot() == before


# The reproducers of issue #12, each once by name.


def test_json_serialized_jws_with_a_non_object_header_is_a_400(browser):
    hint = json.dumps({"payload": "e30", "signature": "", "header": []})
    for url_name in END_SESSION_URLS:
        response = browser.get(reverse(url_name), {"id_token_hint": hint})
        assert response.status_code == 400
        assert b"not a well-formed signed JWT" in response.content


@pytest.mark.parametrize("aud", ["\ud800", "a\x00b", ["ok", "\udfff"]])
def test_unsigned_hint_with_a_malformed_aud_is_a_400_before_any_lookup(browser, aud):
    header = hs.b64url(b'{"alg":"RS256"}')
    payload = hs.b64url(hs.to_json({"iss": ISSUER, "aud": aud, "sub": "1"}))
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(
            reverse("idp_logout:end_session"), {"id_token_hint": f"{header}.{payload}.AAAA"}
        )
    assert response.status_code == 400
    assert b"no valid aud claim" in response.content
    assert not [q for q in queries.captured_queries if "oauth2_provider_application" in q["sql"]]


@pytest.mark.parametrize("sid", ["\ud800", "a\x00b", "x" * 256])
def test_hint_signed_with_a_malformed_sid_is_a_400(browser, sid):
    hint = signed_by_us({"iss": ISSUER, "aud": "example-rp", "sub": "1", "sid": sid})
    response = browser.get(reverse("idp_logout:end_session"), {"id_token_hint": hint})
    assert response.status_code == 400


def test_a_parameter_sent_twice_is_a_400(browser):
    response = browser.get(f"{reverse('idp_logout:end_session')}?client_id=example-rp&client_id=other")
    assert response.status_code == 400
    assert b"only once" in response.content
