"""Property-based tests of the device flow's endpoints (RFC 8628) with hostile form parameters.

Oracle: never a 5xx (PostgreSQL refuses NUL bytes: unchecked, they were 500s in DOT); a 400 is a JSON
``invalid_request`` (or DOT's own error) and creates no device grant and no token.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oauth2_provider.models import get_access_token_model, get_application_model, get_device_grant_model

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

# Form values arrive as text decoded from the body: NUL and any valid code point can reach the view.
hostile = st.text(st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["\x00", "tv-app\x00", "tv-app", "x" * 5000, "openid", "%00"]
)
params = st.lists(
    st.tuples(
        st.sampled_from(["client_id", "scope", "client_secret", "device_code", "x"]) | hostile, hostile
    ),
    max_size=5,
)


@pytest.fixture
def device_client(application_factory):
    Application = get_application_model()
    return application_factory(
        client_id="tv-app",
        authorization_grant_type=Application.GRANT_DEVICE_CODE,
        client_type=Application.CLIENT_PUBLIC,
        redirect_uris="",
    )


@FUZZ
@given(pairs=params)
def test_device_authorization_with_any_parameters(device_client, pairs):
    before = get_device_grant_model().objects.count()
    response = Client().post(
        reverse("oauth2_provider:device-authorization"),
        urlencode(pairs),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code < 500, response.content[:300]
    if response.status_code != 200:
        assert "error" in response.json()
        assert get_device_grant_model().objects.count() == before


@FUZZ
@given(pairs=params)
def test_device_token_poll_with_any_parameters(device_client, pairs):
    response = Client().post(
        reverse("oauth2_provider:token"),
        urlencode([("grant_type", DEVICE_GRANT), *pairs]),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code < 500, response.content[:300]
    assert response.status_code != 200  # nothing was ever approved
    assert not get_access_token_model().objects.exists()
