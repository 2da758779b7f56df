"""Dynamic Client Registration (RFC 7591/7592) carries the logout metadata of the three logout specs.

Registration, read, update and delete go through DOT's real endpoints (our subclasses); a client
registered this way then signs in with the code flow and signs out, and its front-channel iframe and
its back-channel receiver (a real HTTP server on 127.0.0.1) get the logout.
"""

from __future__ import annotations

import json
import re
from html import unescape
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_application_model

from django_idp_logout.models import ClientLogoutSettings
from tests.conftest import ISSUER, REDIRECT_URI

pytestmark = pytest.mark.django_db

OPEN_REGISTRATION = {
    "DCR_ENABLED": True,
    "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.AllowAllDCRPermission",),
}
POST_LOGOUT = "https://rp.example.com/signed-out"


@pytest.fixture(autouse=True)
def open_registration(settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, **OPEN_REGISTRATION}
    settings.IDP_LOGOUT = {"BACKCHANNEL_DELIVERY": "sync", "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": False}


def register(document, *, raw=None):
    body = raw if raw is not None else json.dumps(document)
    return Client().post(reverse("oauth2_provider:dcr-register"), body, content_type="application/json")


def manage(method, registered, document=None, *, raw=None):
    url = urlsplit(registered["registration_client_uri"]).path
    headers = {"HTTP_AUTHORIZATION": f"Bearer {registered['registration_access_token']}"}
    body = raw if raw is not None else (json.dumps(document) if document is not None else "")
    return getattr(Client(), method)(url, body, content_type="application/json", **headers)


def document(**extra):
    return {
        "client_name": "Registered RP",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "post_logout_redirect_uris": [POST_LOGOUT],
        "frontchannel_logout_uri": "https://rp.example.com/fc?tenant=7",
        "frontchannel_logout_session_required": True,
        "backchannel_logout_uri": "https://rp.example.com/bc",
        "backchannel_logout_session_required": False,
        **extra,
    }


def test_registration_stores_and_returns_the_logout_metadata():
    response = register(document())
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["post_logout_redirect_uris"] == [POST_LOGOUT]
    assert data["frontchannel_logout_uri"] == "https://rp.example.com/fc?tenant=7"
    assert data["frontchannel_logout_session_required"] is True
    assert data["backchannel_logout_uri"] == "https://rp.example.com/bc"
    assert data["backchannel_logout_session_required"] is False
    assert data["id_token_signed_response_alg"] == "RS256"

    application = get_application_model().objects.get(client_id=data["client_id"])
    assert application.post_logout_redirect_uris == POST_LOGOUT
    assert application.algorithm == "RS256"
    row = application.logout_settings
    assert (row.frontchannel_logout_uri, row.backchannel_logout_uri) == (
        "https://rp.example.com/fc?tenant=7",
        "https://rp.example.com/bc",
    )
    assert row.frontchannel_logout_session_required and not row.backchannel_logout_session_required
    assert row.coordinate_lifetime_with_user_session is None  # inherits the global default


def test_read_update_and_delete_keep_the_logout_metadata_in_step():
    registered = register(document()).json()
    read = manage("get", registered)
    assert read.status_code == 200
    assert read.json()["backchannel_logout_uri"] == "https://rp.example.com/bc"

    # RFC 7592 section 2.2: an update replaces the registration; omitted members go back to defaults.
    updated = manage(
        "put",
        registered,
        document(
            frontchannel_logout_uri=None,
            backchannel_logout_uri="https://rp.example.com/bc2",
            post_logout_redirect_uris=[POST_LOGOUT, "https://rp.example.com/bye"],
        ),
    )
    assert updated.status_code == 200, updated.content
    data = updated.json()
    assert "frontchannel_logout_uri" not in data
    assert data["backchannel_logout_uri"] == "https://rp.example.com/bc2"
    assert data["post_logout_redirect_uris"] == [POST_LOGOUT, "https://rp.example.com/bye"]
    row = ClientLogoutSettings.objects.get(application__client_id=registered["client_id"])
    assert row.frontchannel_logout_uri == "" and row.backchannel_logout_uri == "https://rp.example.com/bc2"

    registered["registration_access_token"] = data["registration_access_token"]  # DOT rotates it
    assert manage("delete", registered).status_code == 204
    assert not get_application_model().objects.filter(client_id=registered["client_id"]).exists()
    assert not ClientLogoutSettings.objects.exists()


BAD_VALUES = [
    ("post_logout_redirect_uris", "https://rp.example.com/signed-out"),  # not an array
    ("post_logout_redirect_uris", ["/relative"]),
    ("post_logout_redirect_uris", ["https://rp.example.com/out#frag"]),
    ("post_logout_redirect_uris", ["javascript:alert(1)"]),
    ("post_logout_redirect_uris", ["https://rp.example.com/a https://evil.example/b"]),
    ("post_logout_redirect_uris", [7]),
    ("frontchannel_logout_uri", "rp.example.com/fc"),
    ("frontchannel_logout_uri", "https://rp.example.com/fc#x"),
    ("frontchannel_logout_uri", "javascript:alert(1)//"),
    ("frontchannel_logout_uri", "http://rp.example.com/fc"),  # http only for loopback hosts
    ("frontchannel_logout_uri", ["https://rp.example.com/fc"]),
    ("frontchannel_logout_uri", "https://[rp.example.com/fc"),
    ("backchannel_logout_uri", "https://10.0.0.7/bc"),  # SSRF: private address
    ("backchannel_logout_uri", "https://169.254.169.254/latest"),  # cloud metadata
    ("backchannel_logout_uri", "https://localhost/bc"),
    ("backchannel_logout_uri", "https://[::ffff:127.0.0.1]/bc"),
    ("backchannel_logout_uri", "ftp://rp.example.com/bc"),
    ("frontchannel_logout_session_required", "yes"),
    ("backchannel_logout_session_required", 1),
    ("id_token_signed_response_alg", "none"),
    ("id_token_signed_response_alg", "HS256"),
    ("client_name", {"a": 1}),
    ("client_name", "RP\x00"),
    ("redirect_uris", ["https://rp.example.com/cb\x00"]),
    ("token_endpoint_auth_method", ["none"]),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_a_bad_value_is_invalid_client_metadata_and_registers_nothing(name, value):
    response = register(document(**{name: value}))
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_client_metadata"
    assert not get_application_model().objects.exists()
    assert not ClientLogoutSettings.objects.exists()


@pytest.mark.parametrize(("name", "value"), BAD_VALUES[:8])
def test_a_bad_update_changes_nothing(name, value):
    registered = register(document()).json()
    response = manage("put", registered, document(client_name="Renamed", **{name: value}))
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"
    application = get_application_model().objects.get(client_id=registered["client_id"])
    assert application.name == "Registered RP" and application.post_logout_redirect_uris == POST_LOGOUT
    assert application.logout_settings.backchannel_logout_uri == "https://rp.example.com/bc"
    assert manage("get", registered).status_code == 200  # the registration token still works


@pytest.mark.parametrize(
    "raw",
    [
        '{"client_name": "\\ud800"}',
        '{"redirect_uris": ["\\u0000"]}',
        "[" * 5000,
        "null",
        '"text"',
        b"\xff\xfe",
    ],
)
def test_malformed_bodies_are_invalid_client_metadata(raw):
    response = register(None, raw=raw)
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"
    assert not get_application_model().objects.exists()


def test_a_public_client_must_use_https_for_logout_uris(settings):
    settings.DEBUG = True  # http is allowed for confidential clients in DEBUG, never for public ones
    response = register(
        document(token_endpoint_auth_method="none", frontchannel_logout_uri="http://rp.example.com/fc")
    )
    assert response.status_code == 400
    response = register(document(frontchannel_logout_uri="http://rp.example.com/fc"))
    assert response.status_code == 201


def test_registration_still_needs_permission(settings):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "DCR_REGISTRATION_PERMISSION_CLASSES": ("oauth2_provider.dcr.IsAuthenticatedDCRPermission",),
    }
    response = register(document(backchannel_logout_uri="https://10.0.0.7/bc"))
    assert response.status_code == 401  # DOT's answer, before any metadata is looked at
    assert not get_application_model().objects.exists()


def test_a_client_registered_dynamically_gets_front_and_back_channel_logout(
    client, user, settings, oidc_login, backchannel_receiver, django_capture_on_commit_callbacks
):
    settings.IDP_LOGOUT = {
        "BACKCHANNEL_DELIVERY": "sync",
        "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True,  # the receiver listens on 127.0.0.1
        "COORDINATE_LIFETIME_WITH_USER_SESSION": True,
    }
    registered = register(document(backchannel_logout_uri=backchannel_receiver.url("/bc"))).json()
    application = get_application_model().objects.get(client_id=registered["client_id"])
    application.skip_authorization = True  # consent is not what this test is about
    application.save(update_fields=["skip_authorization"])
    rp = SimpleNamespace(client_id=registered["client_id"], client_secret=registered["client_secret"])

    tokens = oidc_login(user, rp)
    sid = client.session["_idp_logout_sid"]
    response = client.get(
        reverse("idp_logout:end_session"),
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT, "state": "s1"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(response["Location"], follow=True)
    assert page.status_code == 200

    (src,) = [
        unescape(s)
        for s in re.findall(r'<iframe class="frontchannel-logout" src="([^"]+)"', page.content.decode())
    ]
    parts = urlsplit(src)
    assert (parts.netloc, parts.path) == ("rp.example.com", "/fc")
    assert parse_qs(parts.query) == {"tenant": ["7"], "iss": [ISSUER], "sid": [sid]}
    assert b"https://rp.example.com/signed-out?state=s1" in page.content

    (post,) = backchannel_receiver.posts_to("/bc")
    assert list(post.form) == ["logout_token"]
    token_response = client.post(
        reverse("oauth2_provider:token"),
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": rp.client_id,
            "client_secret": rp.client_secret,
        },
    )
    assert token_response.json()["error"] == "invalid_grant"  # coordinated: revoked with the session
