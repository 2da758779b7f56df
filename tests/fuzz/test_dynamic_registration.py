"""Property-based tests of Dynamic Client Registration (RFC 7591/7592) with hostile JSON bodies.

Oracle (tests/fuzz/oracles.py) plus: a 400 is ``invalid_client_metadata`` and registers or changes no
client; a NUL byte or lone surrogate anywhere in the document is always a 400; a 201 stores exactly
the logout metadata it returns.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st
from oauth2_provider.models import get_application_model

from django_idp_logout.models import ClientLogoutSettings
from tests.conftest import REDIRECT_URI
from tests.fuzz import strategies as hs
from tests.fuzz.oracles import check_response, state_snapshot

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

LOGOUT_MEMBERS = [
    "post_logout_redirect_uris",
    "frontchannel_logout_uri",
    "frontchannel_logout_session_required",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
    "id_token_signed_response_alg",
    "client_name",
    "token_endpoint_auth_method",
    "grant_types",
]
uri_like = st.sampled_from(
    [
        "https://rp.example.com/out",
        "https://10.0.0.1/bc",
        "https://[::ffff:127.0.0.1]/bc",
        "javascript:alert(1)",
        "/relative",
        "https://[::1",
    ]
)
member_values = st.one_of(
    hs.json_values(), uri_like, st.lists(st.one_of(uri_like, hs.hostile_text()), max_size=3)
)
documents = st.builds(
    lambda base, junk: {**junk, **base},
    st.fixed_dictionaries(
        {"redirect_uris": st.one_of(st.just([REDIRECT_URI]), member_values)},
        optional={name: member_values for name in LOGOUT_MEMBERS},
    ),
    st.dictionaries(hs.small_text, hs.json_values(), max_size=3),
)
bodies = st.one_of(
    documents.map(hs.to_json),
    hs.json_values().map(hs.to_json),
    hs.deep_json.map(str.encode),
    st.binary(max_size=64),
)


def unusable_text(value) -> bool:
    """A NUL byte or a lone surrogate anywhere in a JSON value (member names too)."""
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(unusable_text(k) or unusable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(unusable_text(v) for v in value)
    return False


@pytest.fixture(autouse=True)
def open_registration(settings):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "DCR_ENABLED": True,
        "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    }


def clients() -> tuple:
    Application = get_application_model()
    return (
        list(
            Application.objects.order_by("pk").values_list(
                "pk", "name", "redirect_uris", "post_logout_redirect_uris"
            )
        ),
        list(
            ClientLogoutSettings.objects.order_by("pk").values_list(
                "pk", "frontchannel_logout_uri", "backchannel_logout_uri"
            )
        ),
    )


@given(body=bodies)
def test_registration_with_any_body(body):
    before, clients_before = state_snapshot(), clients()
    response = Client().post(reverse("oauth2_provider:dcr-register"), body, content_type="application/json")
    check_response(response)
    assert response.status_code in (201, 400), response.content[:300]
    if response.status_code == 400:
        assert response.json()["error"] == "invalid_client_metadata"
        assert (state_snapshot(), clients()) == (before, clients_before)
        return
    assert not unusable_text(json.loads(body))
    data = response.json()
    application = get_application_model().objects.get(client_id=data["client_id"])
    assert application.post_logout_redirect_uris.split() == data["post_logout_redirect_uris"]
    row = ClientLogoutSettings.objects.get(application=application)
    assert row.frontchannel_logout_uri == data.get("frontchannel_logout_uri", "")
    assert row.backchannel_logout_uri == data.get("backchannel_logout_uri", "")


@given(document=documents)
def test_a_document_with_unusable_text_is_always_refused(document):
    document["client_name"] = "RP\x00"
    response = Client().post(
        reverse("oauth2_provider:dcr-register"), hs.to_json(document), content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"
    assert not get_application_model().objects.exists()


@pytest.fixture
def registered():
    response = Client().post(
        reverse("oauth2_provider:dcr-register"),
        json.dumps({"redirect_uris": [REDIRECT_URI], "backchannel_logout_uri": "https://rp.example.com/bc"}),
        content_type="application/json",
    )
    assert response.status_code == 201
    return response.json()


@given(body=bodies)
def test_update_with_any_body(registered, body):
    """A refused update changes nothing; DOT rotates the registration token on an accepted one."""
    before, clients_before = state_snapshot(), clients()
    path = reverse("oauth2_provider:dcr-register-management", kwargs={"client_id": registered["client_id"]})
    response = Client().put(
        path,
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {registered['registration_access_token']}",
    )
    check_response(response)
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        assert response.json()["error"] == "invalid_client_metadata"
        assert clients() == clients_before
        assert state_snapshot() == before
    else:
        assert not unusable_text(json.loads(body))
        registered["registration_access_token"] = response.json()["registration_access_token"]
