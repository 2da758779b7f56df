"""Property-based tests of OpenID Connect Session Management: the check_session_iframe with any query,
the authorize endpoint (where ``session_state`` is added) with odd values in every parameter, and a
hostile browser-state cookie.

Oracle (tests/fuzz/oracles.py) plus, at the authorize endpoint: a redirect goes only to our own pages or
to the registered redirect URI; a ``session_state`` in it is the one the spec's formula gives for the
browser's cookie (never a value the request planted), and there is at most one.
"""

from __future__ import annotations

import hashlib
import string
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import event, given
from hypothesis import strategies as st

from django_idp_logout.services.client_origins import forget_registered_origins
from tests.conftest import REDIRECT_URI, pkce_challenge
from tests.fuzz import strategies as hs
from tests.fuzz.oracles import check_response, check_unchanged_on_refusal, state_snapshot

pytestmark = [
    pytest.mark.fuzz,
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:The OAuth 2.0 implicit grant:DeprecationWarning"),
]

COOKIE = "idp_logout_browser_state"
RP_ORIGIN = "https://rp.example.com"
IFRAME = "idp_logout:check_session_iframe"
AUTHORIZE_PARAMS = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "prompt",
]
EXTRA_PARAMS = ["session_state", "max_age", "ui_locales", "claims", "id_token_hint", "login_hint", "request"]
# Values a real client might send, so that examples also reach the success paths.
PLAUSIBLE = {
    "response_type": ["code", "id_token", "id_token token", "code id_token", "code token", "token"],
    "scope": ["openid", "openid profile", "profile", "", "openid openid"],
    "response_mode": ["query", "fragment", "form_post", "web_message"],
    "prompt": ["none", "login", "consent", "create", "select_account", "none login"],
    "redirect_uri": [REDIRECT_URI, REDIRECT_URI + "/", "https://rp.example.com:443/callback", RP_ORIGIN],
    "client_id": ["example-rp", "EXAMPLE-RP", "example-rp "],
    "code_challenge_method": ["S256", "plain", "s256"],
}


@pytest.fixture
def browser(user, application, oidc_login):
    """A signed-in browser with a real OIDC login, so it holds the browser-state cookie."""
    browser = Client()
    oidc_login(user, application, browser=browser)
    assert browser.cookies[COOKIE].value
    return browser


def spec_session_state(client_id: str, origin: str, browser_state: str, salt: str) -> str:
    return hashlib.sha256(f"{client_id} {origin} {browser_state} {salt}".encode()).hexdigest() + "." + salt


def value_for(name: str) -> st.SearchStrategy[str]:
    plausible = st.sampled_from(PLAUSIBLE[name]).map(hs.encoded) if name in PLAUSIBLE else st.nothing()
    return st.one_of(plausible, hs.query_value())


authorize_overrides = st.lists(
    st.sampled_from(AUTHORIZE_PARAMS).flatmap(lambda name: value_for(name).map(lambda v: (name, v))),
    max_size=4,
)


def authorize_query(overrides: list[tuple[str, str]], extra: str) -> str:
    base = {
        "response_type": "code",
        "client_id": "example-rp",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "st",
        "nonce": "n",
        "code_challenge": pkce_challenge("v" * 50),
        "code_challenge_method": "S256",
    }
    replaced = {name for name, _ in overrides}
    parts = [urlencode({k: v for k, v in base.items() if k not in replaced})]
    parts += [f"{name}={value}" for name, value in overrides]
    if extra:
        parts.append(extra)
    return "&".join(parts)


def check_authorize_redirect(location: str, browser) -> None:
    if location.startswith("/") and not location.startswith("//"):
        return  # our own pages (the login page for prompt=login)
    parts = urlsplit(location)
    # Exactly the registered URI; the client's own state (however hostile) may follow, encoded.
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT_URI, f"redirect to {location!r}"
    found = parse_qs(parts.query).get("session_state", []) + parse_qs(parts.fragment).get("session_state", [])
    assert len(found) <= 1, found
    event("session_state added" if found else "redirect without session_state")
    if found:
        salt = found[0].rpartition(".")[2]
        cookie = browser.cookies[COOKIE].value
        assert found[0] == spec_session_state("example-rp", RP_ORIGIN, cookie, salt), location


@given(overrides=authorize_overrides, extra=hs.query_string(EXTRA_PARAMS))
def test_authorize_with_odd_values(browser, overrides, extra):
    before = state_snapshot()
    response = browser.get(f"{reverse('oauth2_provider:authorize')}?{authorize_query(overrides, extra)}")
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if 300 <= response.status_code < 400:
        check_authorize_redirect(response["Location"], browser)
    else:
        check_response(response)
        check_unchanged_on_refusal(response, before)


@given(query=hs.query_string(["client_id", "origin", "session_state", "version", "callback"]))
def test_iframe_with_any_query_is_the_same_page(browser, query):
    forget_registered_origins()
    plain = browser.get(reverse(IFRAME))
    before = state_snapshot()
    response = browser.get(f"{reverse(IFRAME)}?{query}")
    check_response(response)
    assert response.status_code == 200
    assert response.content == plain.content  # nothing of the query is reflected or used
    assert response["Content-Security-Policy"] == plain["Content-Security-Policy"]
    assert state_snapshot() == before


cookie_values = st.text(
    alphabet=string.ascii_letters + string.digits + "!#$%&'()*+-./:<=>?@[]^_`{|}~", max_size=300
)


@given(value=cookie_values)
def test_a_hostile_browser_state_cookie_is_replaced_and_changes_nothing(browser, value):
    genuine = browser.cookies[COOKIE].value
    before = state_snapshot()
    browser.cookies[COOKIE] = value
    response = browser.get(reverse(IFRAME))
    check_response(response)
    assert response.status_code == 200
    if value != genuine:
        assert response.cookies[COOKIE].value == genuine
    assert state_snapshot() == before
