"""External logout (outbound): a user who signed in through an upstream provider is signed out there too.

mozilla-django-oidc's login is simulated here (its backend in the session, its stored ID token); the
real round trip over HTTP against a second identity provider lives in tests/test_upstream_roundtrip.py.
"""

import base64
import json
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_access_token_model

from django_idp_logout import checks
from django_idp_logout.models import UserSession
from tests.conftest import POST_LOGOUT_URI, end_session_url

pytestmark = pytest.mark.django_db

MOZILLA = "mozilla_django_oidc.auth.OIDCAuthenticationBackend"
UPSTREAM = "https://corp.example.com"


def fake_id_token(**claims) -> str:
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.signature"


@pytest.fixture
def upstream(settings):
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", MOZILLA]
    settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = "idp", "idp-secret"
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{UPSTREAM}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{UPSTREAM}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{UPSTREAM}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{UPSTREAM}/jwks"
    settings.OIDC_STORE_ID_TOKEN = True
    settings.IDP_LOGOUT = {"UPSTREAM_END_SESSION_ENDPOINT": f"{UPSTREAM}/logout", "UPSTREAM_ISSUER": UPSTREAM}
    return settings


UPSTREAM_ID_TOKEN = fake_id_token(iss=UPSTREAM, sub="corp-42", sid="corp-sid-1", aud="idp")


def upstream_login(user, browser=None, id_token=UPSTREAM_ID_TOKEN):
    """What mozilla-django-oidc leaves behind: its ID token in the session, its backend on the login."""
    browser = browser or Client()
    if id_token:
        session = browser.session
        session["oidc_id_token"] = id_token
        session.save()
    browser.force_login(user, backend=MOZILLA)
    return browser


def test_login_through_upstream_records_issuer_sid_sub_and_token(upstream, user):
    upstream_login(user)
    user_session = UserSession.objects.get()
    assert (user_session.upstream_issuer, user_session.upstream_sid, user_session.upstream_sub) == (
        UPSTREAM,
        "corp-sid-1",
        "corp-42",
    )
    assert user_session.upstream_id_token == UPSTREAM_ID_TOKEN


def test_local_login_records_nothing_upstream(upstream, user):
    Client().force_login(user)
    assert UserSession.objects.get().upstream_issuer == ""


def test_logout_goes_upstream_then_back_to_the_client_with_state(upstream, user, application, oidc_login):
    browser = upstream_login(user)
    tokens = oidc_login(user, application, browser=browser)
    start = browser.get(
        end_session_url(
            id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI, state="rp-1"
        )
    )
    response = browser.get(start["Location"])
    assert not browser.session.get("_auth_user_id")  # our own session ended first
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{UPSTREAM}/logout"
    query = parse_qs(target.query)
    assert query["id_token_hint"] == [UPSTREAM_ID_TOKEN]
    assert query["post_logout_redirect_uri"] == [
        "http://testserver" + reverse("idp_logout:external_logout_callback")
    ]
    assert UserSession.objects.get().upstream_id_token == ""  # not kept once used
    # the upstream provider sends the browser back
    back = browser.get(reverse("idp_logout:external_logout_callback"), {"state": query["state"][0]})
    final = browser.get(back["Location"])
    assert final["Location"] == POST_LOGOUT_URI + "?state=rp-1"


def test_coordinated_tokens_are_revoked_before_going_upstream(upstream, user, application, oidc_login):
    upstream.IDP_LOGOUT = {**upstream.IDP_LOGOUT, "COORDINATE_LIFETIME_WITH_USER_SESSION": True}
    browser = upstream_login(user)
    oidc_login(user, application, browser=browser)
    browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert not get_access_token_model().objects.exists()


@pytest.mark.parametrize("state", ["", "garbage", signing.dumps({"id": "x"}, salt="another-salt")])
def test_bad_state_finishes_locally_without_redirect(upstream, state):
    response = Client().get(reverse("idp_logout:external_logout_callback"), {"state": state})
    assert response.status_code == HTTPStatus.OK
    assert b'id="upstream-unconfirmed"' in response.content
    assert "Location" not in response


def test_expired_state_finishes_locally(upstream, monkeypatch):
    import time

    from django_idp_logout.services.external import STATE_SALT

    state = signing.dumps({"id": "x"}, salt=STATE_SALT)
    real = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real() + 601)
    response = Client().get(reverse("idp_logout:external_logout_callback"), {"state": state})
    assert b'id="upstream-unconfirmed"' in response.content


def test_no_upstream_endpoint_finishes_locally(upstream, user):
    upstream.IDP_LOGOUT = {"UPSTREAM_ISSUER": UPSTREAM}
    browser = upstream_login(user)
    response = browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert response["Location"].startswith(reverse("idp_logout:logged_out"))


def test_no_stored_id_token_finishes_locally(upstream, user):
    browser = upstream_login(user, id_token=None)
    response = browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert response["Location"].startswith(reverse("idp_logout:logged_out"))
    assert not browser.session.get("_auth_user_id")


def test_unreachable_discovery_document_finishes_locally(upstream, user, backchannel_receiver):
    backchannel_receiver.on("/.well-known/openid-configuration", statuses=[500])
    upstream.IDP_LOGOUT = {
        "UPSTREAM_DISCOVERY_URL": backchannel_receiver.url("/.well-known/openid-configuration")
    }
    browser = upstream_login(user)
    response = browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert response["Location"].startswith(reverse("idp_logout:logged_out"))


def test_local_user_logout_never_goes_upstream(upstream, user):
    browser = Client()
    browser.force_login(user)
    response = browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert response["Location"].startswith(reverse("idp_logout:logged_out"))


def test_session_refresh_middleware_without_exemptions_is_an_error(upstream):
    upstream.MIDDLEWARE = [*upstream.MIDDLEWARE, "mozilla_django_oidc.middleware.SessionRefresh"]
    upstream.OIDC_STORE_ID_TOKEN = True
    assert [m.id for m in checks.check_external_logout()] == ["django_idp_logout.E042"]
    upstream.OIDC_EXEMPT_URLS = list(checks.EXEMPT_URL_NAMES)
    assert checks.check_external_logout() == []


def test_id_token_not_stored_is_a_warning(upstream):
    upstream.OIDC_STORE_ID_TOKEN = False
    assert [m.id for m in checks.check_external_logout()] == ["django_idp_logout.W040"]
