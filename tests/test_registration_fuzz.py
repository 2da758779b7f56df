"""Property-based tests of the registration endpoints (RFC 7591/7592) with hostile JSON bodies.

Oracle: never a 5xx; a 400 is ``invalid_client_metadata`` and registers or changes nothing; any NUL
byte or lone surrogate anywhere in the document is a 400; a 201 stores exactly what it returns.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oauth2_provider.models import get_application_model

from django_idp_logout.models import ClientLogoutSettings
from tests.conftest import REDIRECT_URI

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Every code point, lone surrogates and NUL included.
hostile_text = st.text(st.characters(codec=None, categories=None), max_size=40) | st.sampled_from(
    ["\x00", "\ud800", "https://rp.example.com/\x00", "https://rp.example.com/x#f", "http://[", "a" * 5000]
)
uri_like = st.sampled_from(
    ["https://rp.example.com/out", "https://10.0.0.1/bc", "javascript:alert(1)", "/rel", "https://[::1]/x"]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text | uri_like,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=12,
)
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
documents = st.builds(
    lambda base, junk: {**base, **junk},
    st.fixed_dictionaries(
        {"redirect_uris": st.just([REDIRECT_URI]) | json_values},
        optional={name: json_values | st.lists(uri_like, max_size=3) for name in LOGOUT_MEMBERS},
    ),
    st.dictionaries(hostile_text, json_values, max_size=3),
)


def _has_unusable_text(value) -> bool:
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_unusable_text(k) or _has_unusable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_unusable_text(v) for v in value)
    return False


def _post(path, body, **headers):
    return Client().post(path, body, content_type="application/json", **headers)


@pytest.fixture(autouse=True)
def open_registration(settings):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "DCR_ENABLED": True,
        "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
    }


def _check_registration(document_or_body):
    Application = get_application_model()
    before = Application.objects.count()
    body = document_or_body if isinstance(document_or_body, bytes) else json.dumps(document_or_body)
    response = _post(reverse("oauth2_provider:dcr-register"), body)
    assert response.status_code in (201, 400), (response.status_code, response.content[:300])
    if response.status_code == 400:
        assert response.json()["error"] == "invalid_client_metadata"
        assert Application.objects.count() == before
        return
    assert not isinstance(document_or_body, bytes) and not _has_unusable_text(document_or_body)
    data = response.json()
    application = Application.objects.get(client_id=data["client_id"])
    assert application.post_logout_redirect_uris.split() == data["post_logout_redirect_uris"]
    row = ClientLogoutSettings.objects.get(application=application)
    assert row.backchannel_logout_uri == data.get("backchannel_logout_uri", "")
    assert row.frontchannel_logout_uri == data.get("frontchannel_logout_uri", "")


@FUZZ
@given(document=documents)
def test_registration_of_any_document(document):
    _check_registration(document)


@FUZZ
@given(body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_registration_of_any_body(body):
    _check_registration(body)


@pytest.fixture
def registered():
    response = _post(reverse("oauth2_provider:dcr-register"), json.dumps({"redirect_uris": [REDIRECT_URI]}))
    assert response.status_code == 201
    return response.json()


@FUZZ
@given(document=documents)
def test_an_update_with_any_document(registered, document):
    """A bad update changes nothing; DOT rotates the registration token on a good one."""
    Application = get_application_model()
    application = Application.objects.get(client_id=registered["client_id"])
    before = (application.name, application.redirect_uris, application.post_logout_redirect_uris)
    path = reverse("oauth2_provider:dcr-register-management", kwargs={"client_id": registered["client_id"]})
    response = Client().put(
        path,
        json.dumps(document),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {registered['registration_access_token']}",
    )
    assert response.status_code in (200, 400), (response.status_code, response.content[:300])
    application.refresh_from_db()
    if response.status_code == 400:
        assert response.json()["error"] == "invalid_client_metadata"
        assert (application.name, application.redirect_uris, application.post_logout_redirect_uris) == before
    else:
        assert not _has_unusable_text(document)
        registered["registration_access_token"] = response.json()["registration_access_token"]
