"""Password-grant tokens stay session-less (docs/sessions.md, "What is not bound to a session").

The client posts the user's password from its own back end: no browser session exists, so no
session is guessed for the tokens, and a logout in one of the user's browsers leaves them alone.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_access_token_model, get_application_model

from django_idp_logout.models import SessionToken

pytestmark = [
    pytest.mark.django_db,
    # DOT warns that RFC 9700 discourages the grant: which is the point of the docs this test backs.
    pytest.mark.filterwarnings("ignore:The OAuth 2.0 resource owner password credentials grant"),
]


def test_password_grant_tokens_belong_to_no_session_and_survive_a_logout(
    client, user, application, application_factory, oidc_login, settings, django_capture_on_commit_callbacks
):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True}
    Application = get_application_model()
    cli = application_factory(authorization_grant_type=Application.GRANT_PASSWORD, redirect_uris="")
    oidc_login(user, application)  # the user is also signed in in a browser, with a session

    response = Client().post(
        reverse("oauth2_provider:token"),
        {
            "grant_type": "password",
            "username": "alice",
            "password": "alice-password",
            "client_id": cli.client_id,
            "client_secret": cli.client_secret,
        },
    )
    assert response.status_code == 200, response.content
    assert not SessionToken.objects.filter(application=cli).exists()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert not get_access_token_model().objects.filter(application=application).exists()  # coordinated
    assert get_access_token_model().objects.filter(application=cli).exists()  # session-less: kept
