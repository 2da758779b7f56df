"""prompt=none before and after logout (RP-Initiated Logout 1.0 section 2: login_required afterwards)."""

from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.urls import reverse

from tests.conftest import POST_LOGOUT_URI, REDIRECT_URI, end_session_url, pkce_challenge

pytestmark = pytest.mark.django_db


def silent_authorize(client, application, *, scope="openid"):
    challenge = pkce_challenge("v" * 50)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": application.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": "st",
            "prompt": "none",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    response = client.get(f"{reverse('oauth2_provider:authorize')}?{query}")
    assert response.status_code == HTTPStatus.FOUND, response.content[:300]
    return parse_qs(urlsplit(response["Location"]).query)


def test_signed_in_user_gets_a_code_silently(client, user, application):
    client.force_login(user)
    params = silent_authorize(client, application)
    assert "code" in params and params["state"] == ["st"]


def test_client_requiring_consent_answers_consent_required(client, user, application_factory):
    app = application_factory(skip_authorization=False)
    client.force_login(user)
    assert silent_authorize(client, app)["error"] == ["consent_required"]


@pytest.mark.parametrize(("approval_prompt", "expected"), [("auto", "code"), ("force", "error")])
def test_earlier_consent_allows_silent_authorization_only_with_auto_approval(
    client, user, application_factory, oidc_login, settings, approval_prompt, expected
):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "REQUEST_APPROVAL_PROMPT": approval_prompt}
    app = application_factory(skip_authorization=True)
    oidc_login(user, app)  # leaves a live access token covering "openid"
    app.skip_authorization = False
    app.save()
    params = silent_authorize(client, app)
    assert expected in params
    if expected == "error":
        assert params["error"] == ["consent_required"]


def test_after_logout_prompt_none_answers_login_required(client, user, application, oidc_login):
    tokens = oidc_login(user, application)
    start = client.get(
        end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
    )
    client.get(client.get(start["Location"])["Location"])
    params = silent_authorize(client, application)
    assert params["error"] == ["login_required"]
    assert params["state"] == ["st"]


def test_after_prompt_confirmation_prompt_none_answers_login_required(client, user, application):
    client.force_login(user)
    client.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert silent_authorize(client, application)["error"] == ["login_required"]
