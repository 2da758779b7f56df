"""Property-based tests of the device flow (RFC 8628): the device authorization endpoint and a
device's poll at the token endpoint, with hostile form parameters and odd bodies.

Oracle (tests/fuzz/oracles.py) plus: a refused request creates no device grant; no poll of a device
that nobody approved gets a token. Unchecked, a NUL byte in ``client_id`` or ``device_code`` was a 500
on PostgreSQL, and a body without a Content-Type or a poll without ``device_code`` a 500 everywhere.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st
from oauth2_provider.models import get_access_token_model, get_application_model, get_device_grant_model

from tests.fuzz import strategies as hs
from tests.fuzz.oracles import check_response, state_snapshot

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_PARAMS = ["client_id", "scope", "client_secret"]
form_or_odd = st.one_of(
    hs.query_string(DEVICE_PARAMS).map(lambda body: ("application/x-www-form-urlencoded", body)),
    st.tuples(st.just("application/x-www-form-urlencoded"), hs.query_value().map(lambda v: f"client_id={v}")),
    hs.odd_bodies,
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


@given(body=form_or_odd)
def test_device_authorization_with_any_body(device_client, body):
    content_type, data = body
    before, grants = state_snapshot(), get_device_grant_model().objects.count()
    response = Client().generic(
        "POST", reverse("oauth2_provider:device-authorization"), data=data, content_type=content_type
    )
    check_response(response)
    if response.status_code != 200:
        if response["Content-Type"] == "application/json":
            assert "error" in response.json()
        assert get_device_grant_model().objects.count() == grants
        assert state_snapshot() == before


@given(query=hs.query_string(["device_code", "client_id", "client_secret", "scope"]))
def test_device_poll_with_any_parameters(device_client, query):
    before = state_snapshot()
    response = Client().post(
        reverse("oauth2_provider:token"),
        f"grant_type={hs.encoded(DEVICE_GRANT)}&{query}",
        content_type="application/x-www-form-urlencoded",
    )
    check_response(response)
    assert response.status_code != 200  # nothing was ever approved
    assert not get_access_token_model().objects.exists()
    assert state_snapshot() == before
