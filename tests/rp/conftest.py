"""A whole client site for the kit's tests: a fake OP on a real local HTTP server (JWKS, token and
userinfo endpoints), mozilla-django-oidc's real login callback, and a logout token factory."""

from __future__ import annotations

import base64
import json
import time
import uuid
from importlib import import_module
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from jwcrypto import jwk, jws

from django_idp_logout.rp.tokens import BACKCHANNEL_EVENT
from tests.fake_op import FakeOP, running_fake_op  # noqa: F401  (FakeOP: re-exported for the kit's tests)

CLIENT_ID = "rp-client"
CLIENT_SECRET = "rp-client-secret-0123456789abcdef"
RP_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_idp_logout.rp.middleware.RPLogoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
SESSION_ENGINES = ["db", "cache", "cached_db", "file", "signed_cookies"]
DEFAULT = object()


@pytest.fixture(scope="session")
def op_key():
    return jwk.JWK.generate(kty="RSA", size=2048, kid="op-key-1")


@pytest.fixture(scope="session")
def rotated_key():
    return jwk.JWK.generate(kty="RSA", size=2048, kid="op-key-2")


@pytest.fixture(scope="session")
def foreign_key():
    return jwk.JWK.generate(kty="RSA", size=2048, kid="attacker-key")


@pytest.fixture(scope="session")
def ec_key():
    return jwk.JWK.generate(kty="EC", crv="P-256", kid="op-ec-1")


@pytest.fixture
def fake_op(op_key):
    with running_fake_op([op_key]) as op:
        yield op


@pytest.fixture(autouse=True)
def client_site(settings, fake_op, db):
    """Configure the test process as a mozilla-django-oidc client site of ``fake_op`` with the kit."""
    settings.ROOT_URLCONF = "tests.rp.urls"
    settings.MIDDLEWARE = RP_MIDDLEWARE
    settings.AUTHENTICATION_BACKENDS = [
        "mozilla_django_oidc.auth.OIDCAuthenticationBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_RP_SCOPES = "openid email"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = fake_op.endpoint("authorize")
    settings.OIDC_OP_TOKEN_ENDPOINT = fake_op.endpoint("token")
    settings.OIDC_OP_USER_ENDPOINT = fake_op.endpoint("userinfo")
    settings.OIDC_OP_JWKS_ENDPOINT = fake_op.endpoint("jwks")
    settings.OIDC_STORE_ID_TOKEN = True
    settings.OIDC_OP_LOGOUT_URL_METHOD = "django_idp_logout.rp.provider_logout_url"
    settings.LOGIN_REDIRECT_URL = "/whoami/"
    settings.LOGIN_REDIRECT_URL_FAILURE = "/login-failed/"
    settings.LOGOUT_REDIRECT_URL = "/whoami/"
    settings.IDP_LOGOUT_RP = {
        "ISSUER": fake_op.issuer,
        "END_SESSION_ENDPOINT": fake_op.endpoint("end-session"),
    }
    cache.clear()
    yield settings
    cache.clear()


@pytest.fixture(params=SESSION_ENGINES)
def session_engine(request, settings, tmp_path):
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{request.param}"
    settings.SESSION_FILE_PATH = str(tmp_path)
    return request.param


def session_store(session_key=None):
    return import_module(django_settings.SESSION_ENGINE).SessionStore(session_key)


@pytest.fixture
def oidc_login(fake_op):
    """Sign a browser (a test ``Client``) in through mozilla-django-oidc's real views: the authorize
    redirect, then the callback, which fetches the ID token from the fake OP and verifies it."""

    def login(browser=None, *, sub="alice-sub", sid="op-sid-1", email="alice@example.com", issuer=None):
        browser = browser or Client()
        response = browser.get(reverse("oidc_authentication_init"))
        assert response.status_code == 302
        query = parse_qs(urlsplit(response["Location"]).query)
        now = int(time.time())
        claims = {
            "iss": issuer or fake_op.issuer,
            "sub": sub,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": query["nonce"][0],
        }
        if sid is not None:
            claims["sid"] = sid
        id_token = fake_op.sign(claims)
        access_token = f"at-{uuid.uuid4()}"
        fake_op.token_responses.append(
            {"id_token": id_token, "access_token": access_token, "token_type": "Bearer", "expires_in": 300}
        )
        fake_op.userinfo[access_token] = {"sub": sub, "email": email}
        response = browser.get(
            reverse("oidc_authentication_callback"), {"code": "c", "state": query["state"][0]}
        )
        assert response.status_code == 302 and response["Location"] == "/whoami/", response
        assert signed_in_as(browser) == email_username(email)
        browser.id_token = id_token
        return browser

    return login


def email_username(email: str) -> str:
    from mozilla_django_oidc.auth import default_username_algo

    return default_username_algo(email)


def signed_in_as(browser) -> str | None:
    return browser.get("/whoami/").json()["user"]


@pytest.fixture
def logout_token(fake_op):
    """A back-channel logout token: valid by default, every part overridable.

    ``claims``/``header`` entries set to None are dropped; ``alg="none"`` makes an unsigned token."""

    def make(*, key=None, alg="RS256", header=None, sign_with_secret=None, **claims):
        now = int(time.time())
        body = {
            "iss": fake_op.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": str(uuid.uuid4()),
            "events": {BACKCHANNEL_EVENT: {}},
            "sub": "alice-sub",
            "sid": "op-sid-1",
        }
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        key = key or fake_op.keys[0]
        protected = {"alg": alg, "kid": key["kid"], "typ": "logout+jwt", **(header or {})}
        protected = {name: value for name, value in protected.items() if value is not None}
        if alg == "none":
            segments = [json.dumps(protected).encode(), json.dumps(body).encode()]
            return ".".join(base64.urlsafe_b64encode(s).rstrip(b"=").decode() for s in segments) + "."
        if sign_with_secret is not None:
            key = jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(sign_with_secret).rstrip(b"=").decode())
        token = jws.JWS(json.dumps(body).encode())
        token.add_signature(key, alg=alg, protected=json.dumps(protected))
        return token.serialize(compact=True)

    return make


@pytest.fixture
def op_server():
    """The OP's server side: posts to the back-channel URI (no cookies) and reads the answer."""
    server = Client()

    def post(token, **extra):
        return server.post(reverse("idp_logout_rp:backchannel_logout"), {"logout_token": token}, **extra)

    return post
