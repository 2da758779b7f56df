"""Property-based tests of the end session endpoint under DOT's strictest logout settings.

A project that adopts the app with ``OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS = False`` (the
``exp``/``nbf`` checks read claims a client may choose: HS256 clients sign with their own secret),
``..._STRICT_REDIRECT_URIS = True`` and ``..._ALWAYS_PROMPT = True``. With the prompt always shown, no
GET along the whole chain (end session endpoint, prompt) may sign anyone out, whatever was sent.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ISSUER
from tests.fuzz import strategies as hs
from tests.fuzz.oracles import check_response, state_snapshot
from tests.fuzz.test_provider_pages import END_SESSION_PARAMS, REGISTERED, follow_own_pages, signed_by_us

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

HTTP_POST_LOGOUT = "http://rp.example.com/signed-out"
times = st.one_of(hs.json_values(), st.integers(min_value=-(10**12), max_value=10**12), st.just("missing"))


def hint_with(exp, nbf) -> str:
    claims = {"iss": ISSUER, "aud": "example-rp", "sub": "fuzz-subject"}
    for name, value in (("exp", exp), ("nbf", nbf)):
        if value != "missing":
            claims[name] = value
    return signed_by_us(claims)


@pytest.fixture
def strict_browser(user, application, oidc_login, settings):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS": False,
        "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
        "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": True,
    }
    application.client_type = application.CLIENT_PUBLIC
    application.post_logout_redirect_uris += f" {HTTP_POST_LOGOUT}"
    application.save()
    browser = Client()
    oidc_login(user, application, browser=browser)
    return browser


@given(
    exp=times,
    nbf=times,
    redirect=st.one_of(st.sampled_from(sorted(REGISTERED) + [HTTP_POST_LOGOUT]), hs.hostile_text()),
    rest=hs.query_string(END_SESSION_PARAMS),
)
def test_end_session_with_hostile_expiry_claims_under_dots_strict_settings(
    strict_browser, exp, nbf, redirect, rest
):
    before = state_snapshot()
    query = "&".join(
        [
            f"id_token_hint={hs.encoded(hint_with(exp, nbf))}",
            f"post_logout_redirect_uri={hs.encoded(redirect)}",
            rest,
        ]
    )
    response = strict_browser.get(f"{reverse('idp_logout:end_session')}?{query}")
    check_response(response, registered_redirects=frozenset())
    follow_own_pages(strict_browser, response)
    # The prompt is always shown, and http is refused for this public client: nothing changed.
    assert state_snapshot() == before
    assert "_auth_user_id" in strict_browser.session
