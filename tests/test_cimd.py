"""Client ID Metadata Documents carry the logout metadata too (docs/registration.md).

The document comes from a real HTTP server on 127.0.0.1 (tests/cimd_fetcher.py stands in for DOT's
https-only fetcher); DOT's resolution and upsert and our logout metadata are the real code.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.urls import reverse
from oauth2_provider.models import get_application_model

from django_idp_logout.models import ClientLogoutSettings
from tests import cimd_fetcher
from tests.conftest import REDIRECT_URI

pytestmark = pytest.mark.django_db

CLIENT_ID = "https://rp.example.com/client.json"
POST_LOGOUT = "https://rp.example.com/signed-out"


@pytest.fixture
def documents(settings):
    served: dict[str, dict] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = served.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body or {}).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cimd_fetcher.DOCUMENT_SERVER["base"] = f"http://127.0.0.1:{server.server_port}"
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "CIMD_ENABLED": True,
        "CIMD_METADATA_FETCHER": "tests.cimd_fetcher.LoopbackLogoutFetcher",
    }
    cache.clear()  # DOT backs failed documents off in the cache
    yield served
    server.shutdown()
    server.server_close()


def document(**extra):
    return {
        "client_id": CLIENT_ID,
        "client_name": "CIMD RP",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code"],
        "token_endpoint_auth_method": "none",
        "post_logout_redirect_uris": [POST_LOGOUT],
        "frontchannel_logout_uri": "https://rp.example.com/fc",
        **extra,
    }


def first_sight(client, user):
    """The authorize endpoint sees the URL client_id: DOT fetches the document and stores the client."""
    client.force_login(user)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        }
    )
    return client.get(f"{reverse('oauth2_provider:authorize')}?{query}")


def test_the_documents_logout_metadata_is_stored(client, user, documents):
    documents["/client.json"] = document(backchannel_logout_session_required=False)
    first_sight(client, user)
    application = get_application_model().objects.get(client_id=CLIENT_ID)
    assert application.post_logout_redirect_uris == POST_LOGOUT
    assert application.algorithm == "RS256"
    row = application.logout_settings
    assert row.frontchannel_logout_uri == "https://rp.example.com/fc"
    assert row.backchannel_logout_session_required is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("backchannel_logout_uri", "https://10.0.0.7/bc"),
        ("frontchannel_logout_uri", "https://rp.example.com/fc#x"),
        ("post_logout_redirect_uris", "https://rp.example.com/signed-out"),
        ("frontchannel_logout_uri", "http://rp.example.com/fc"),
        ("client_name", "RP\x00"),
    ],
)
def test_a_document_with_bad_logout_metadata_is_refused(client, user, documents, name, value):
    documents["/client.json"] = document(**{name: value})
    response = first_sight(client, user)
    assert response.status_code == 400
    assert not get_application_model().objects.filter(client_id=CLIENT_ID).exists()
    assert not ClientLogoutSettings.objects.exists()


def test_a_cimd_client_gets_front_and_back_channel_logout(
    client, user, documents, oidc_login, settings, backchannel_receiver, django_capture_on_commit_callbacks
):
    settings.IDP_LOGOUT = {
        "BACKCHANNEL_DELIVERY": "sync",
        "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True,
        "COORDINATE_LIFETIME_WITH_USER_SESSION": True,
    }
    documents["/client.json"] = document(backchannel_logout_uri=backchannel_receiver.url("/bc"))
    first_sight(client, user)
    get_application_model().objects.filter(client_id=CLIENT_ID).update(skip_authorization=True)

    tokens = oidc_login(user, SimpleNamespace(client_id=CLIENT_ID, client_secret=""))
    response = client.get(
        reverse("idp_logout:end_session"),
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT},
    )
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(response["Location"], follow=True)
    assert b'<iframe class="frontchannel-logout" src="https://rp.example.com/fc?iss=' in page.content
    assert POST_LOGOUT.encode() in page.content
    (post,) = backchannel_receiver.posts_to("/bc")
    assert list(post.form) == ["logout_token"]
