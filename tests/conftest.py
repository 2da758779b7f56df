"""Fixtures shared by the suite: users, clients, real OIDC logins, and hand-made ID tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.urls import reverse
from jwcrypto import jwk, jwt
from oauth2_provider.models import get_application_model
from oauth2_provider.utils import jwk_from_pem

from tests.fuzz import profiles  # noqa: F401  (registers and loads the hypothesis profile)
from tests.keys import pem

ISSUER = "http://testserver/o"
REDIRECT_URI = "https://rp.example.com/callback"
POST_LOGOUT_URI = "https://rp.example.com/signed-out"


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256 code challenge."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("mallory", password="mallory-password")


@pytest.fixture
def application_factory(db):
    Application = get_application_model()
    counter = iter(range(1, 10_000))

    def make(**overrides):
        n = next(counter)
        fields = {
            "name": f"Client {n}",
            "client_id": f"client-{n}",
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "client_secret": f"secret-{n}-{secrets.token_hex(24)}",
            "hash_client_secret": False,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": REDIRECT_URI,
            "post_logout_redirect_uris": POST_LOGOUT_URI,
            "algorithm": Application.RS256_ALGORITHM,
            "skip_authorization": True,
        }
        fields.update(overrides)
        return Application.objects.create(**fields)

    return make


@pytest.fixture
def application(application_factory):
    return application_factory(name="Example RP", client_id="example-rp")


@pytest.fixture
def oidc_login(client):
    """Sign ``user`` in to the OP in ``browser`` (a test client) and run the real code flow for
    ``application``; returns the token response (id_token, access_token, refresh_token)."""

    def login(user, application, *, browser=None, scope="openid"):
        browser = browser or client
        if "_auth_user_id" not in browser.session:
            browser.force_login(user)
        verifier = secrets.token_urlsafe(48)
        challenge = pkce_challenge(verifier)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": application.client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": scope,
                "state": "s",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        response = browser.get(f"{reverse('oauth2_provider:authorize')}?{query}")
        assert response.status_code == 302, response.content[:500]
        code = parse_qs(urlsplit(response["Location"]).query)["code"][0]
        token_response = browser.post(
            reverse("oauth2_provider:token"),
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": application.client_id,
                "client_secret": application.client_secret,
                "code_verifier": verifier,
            },
        )
        assert token_response.status_code == 200, token_response.content
        return token_response.json()

    return login


@pytest.fixture
def id_token_factory():
    """Hand-made ID tokens with knobs for every attack: key, alg, claims, raw payload."""

    def make(
        *,
        aud="example-rp",
        sub="1",
        iss=ISSUER,
        key_name="active",
        alg="RS256",
        secret=None,
        expired=False,
        extra=None,
        drop=(),
        raw_payload=None,
    ):
        now = int(time.time())
        claims = {
            "iss": iss,
            "sub": sub,
            "aud": aud,
            "iat": now - 3600 if expired else now,
            "exp": now - 1800 if expired else now + 600,
            "jti": str(uuid.uuid4()),
        }
        claims.update(extra or {})
        for name in drop:
            claims.pop(name, None)
        if alg == "none":
            header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
            body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
            return f"{header.decode()}.{body.decode()}."
        if alg == "HS256":
            key = jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(secret.encode()).rstrip(b"=").decode())
            header = {"alg": "HS256", "typ": "JWT"}
        else:
            key = jwk_from_pem(pem(key_name))
            header = {"alg": "RS256", "typ": "JWT", "kid": key.thumbprint()}
        if raw_payload is not None:
            from jwcrypto import jws

            token = jws.JWS(raw_payload)
            token.add_signature(key, alg=header["alg"], protected=json.dumps(header))
            return token.serialize(compact=True)
        token = jwt.JWT(header=header, claims=claims)
        token.make_signed_token(key)
        return token.serialize()

    return make


def end_session_url(**params) -> str:
    return f"{reverse('idp_logout:end_session')}?{urlencode(params)}"


def follow_to_logout_page(client, response):
    """From the end session endpoint's redirect, GET the logout page."""
    assert response.status_code == 302, response.content[:500]
    assert response["Location"].startswith(reverse("idp_logout:logout"))
    return client.get(response["Location"])


def is_signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def backchannel_receiver():
    """A threaded HTTP server on 127.0.0.1 recording every back-channel POST."""
    from tests.receivers import Receiver

    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def logout_settings_factory():
    """Give a client logout options (back-/front-channel URIs, coordination)."""
    from django_idp_logout.models import ClientLogoutSettings

    def make(application, **fields):
        row, _ = ClientLogoutSettings.objects.update_or_create(application=application, defaults=fields)
        return row

    return make
