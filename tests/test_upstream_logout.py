"""Inbound upstream logout: the upstream provider's back-channel and front-channel calls end our sessions.

The upstream is a fake OP on a real local HTTP server publishing its JWKS (tests/fake_op.py); our
sessions come from a simulated mozilla-django-oidc login (tests/test_external_logout.py).
"""

import time
import uuid
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse
from jwcrypto import jwk
from oauth2_provider.models import get_access_token_model

from django_idp_logout.models import BackchannelNotification, EndReason, UserSession
from django_idp_logout.rp import jwks as rp_jwks
from tests.fake_op import running_fake_op
from tests.test_external_logout import MOZILLA, fake_id_token

pytestmark = pytest.mark.django_db

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture(scope="module")
def upstream_key():
    return jwk.JWK.generate(kty="RSA", size=2048, kid="corp-1")


@pytest.fixture
def corp(settings, upstream_key):
    with running_fake_op([upstream_key]) as op:
        rp_jwks.clear_cache()
        settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", MOZILLA]
        settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = "idp-at-corp", "secret"
        settings.OIDC_RP_SIGN_ALGO = "RS256"
        settings.OIDC_OP_AUTHORIZATION_ENDPOINT = op.endpoint("authorize")
        settings.OIDC_OP_TOKEN_ENDPOINT = op.endpoint("token")
        settings.OIDC_OP_USER_ENDPOINT = op.endpoint("userinfo")
        settings.OIDC_OP_JWKS_ENDPOINT = op.endpoint("jwks")
        settings.IDP_LOGOUT = {
            "UPSTREAM_ISSUER": op.issuer,
            "COORDINATE_LIFETIME_WITH_USER_SESSION": True,
            "BACKCHANNEL_DELIVERY": "sync",
            "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True,
        }
        yield op
        rp_jwks.clear_cache()


def corp_login(user, op, *, sid="corp-sid-1", sub="corp-alice"):
    browser = Client()
    session = browser.session
    session["oidc_id_token"] = fake_id_token(iss=op.issuer, sub=sub, sid=sid, aud="idp-at-corp")
    session.save()
    browser.force_login(user, backend=MOZILLA)
    return browser, UserSession.objects.get(sid=browser.session["_idp_logout_sid"])


def logout_token(op, *, key=None, header=None, **claims):
    now = int(time.time())
    body = {
        "iss": op.issuer,
        "aud": "idp-at-corp",
        "iat": now,
        "exp": now + 120,
        "jti": str(uuid.uuid4()),
        "events": {EVENT: {}},
        "sub": "corp-alice",
        "sid": "corp-sid-1",
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    key = key or op.keys[0]
    return op.sign(body, key=key, header=header or {"alg": "RS256", "kid": key["kid"], "typ": "logout+jwt"})


def post(token):
    return Client().post(reverse("idp_logout:upstream_backchannel_logout"), {"logout_token": token})


def ended(user_session) -> bool:
    user_session.refresh_from_db()
    return user_session.ended_at is not None


def test_upstream_backchannel_ends_the_session_revokes_and_notifies_our_clients(
    corp,
    user,
    application,
    logout_settings_factory,
    oidc_login,
    backchannel_receiver,
    django_capture_on_commit_callbacks,
):
    logout_settings_factory(application, backchannel_logout_uri=backchannel_receiver.url("/our-rp"))
    browser, user_session = corp_login(user, corp)
    oidc_login(user, application, browser=browser)
    other_browser, other = corp_login(user, corp, sid="corp-sid-2")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(logout_token(corp))
    assert response.status_code == HTTPStatus.OK
    assert "no-store" in response["Cache-Control"]
    assert ended(user_session) and user_session.end_reason == EndReason.UPSTREAM_LOGOUT
    assert not ended(other)
    assert not get_access_token_model().objects.filter(idp_logout_binding__user_session=user_session).exists()
    assert [r.path for r in backchannel_receiver.received] == ["/our-rp"]
    assert BackchannelNotification.objects.get().reason == EndReason.UPSTREAM_LOGOUT
    browser.get("/")
    assert "_auth_user_id" not in browser.session


def test_sub_only_token_ends_all_of_that_subjects_sessions(corp, user, other_user):
    _, first = corp_login(user, corp, sid="a")
    _, second = corp_login(user, corp, sid="b")
    _, stranger = corp_login(other_user, corp, sid="c", sub="corp-bob")
    assert post(logout_token(corp, sid=None)).status_code == HTTPStatus.OK
    assert ended(first) and ended(second) and not ended(stranger)


def test_local_sessions_are_never_touched(corp, user):
    local = Client()
    local.force_login(user)
    user_session = UserSession.objects.get()
    assert post(logout_token(corp, sid=None)).status_code == HTTPStatus.OK
    assert not ended(user_session)


def test_unknown_sid_is_still_200(corp):
    assert post(logout_token(corp, sid="nobody")).status_code == HTTPStatus.OK


@pytest.mark.parametrize(
    "attack",
    [
        "tampered",
        "expired",
        "foreign_key",
        "wrong_iss",
        "wrong_aud",
        "nonce",
        "no_events",
        "wrong_events",
        "alg_none",
        "no_jti",
        "no_sub_no_sid",
        "garbage",
        "id_token_typ",
    ],
)
def test_bad_upstream_tokens_are_400_and_end_nothing(corp, user, attack):
    _, user_session = corp_login(user, corp)
    foreign = jwk.JWK.generate(kty="RSA", size=2048, kid="corp-1")
    tokens = {
        "tampered": lambda: logout_token(corp)[:-4] + "AAAA",
        "expired": lambda: logout_token(corp, iat=int(time.time()) - 900, exp=int(time.time()) - 600),
        "foreign_key": lambda: logout_token(corp, key=foreign),
        "wrong_iss": lambda: logout_token(corp, iss="https://evil.example.com"),
        "wrong_aud": lambda: logout_token(corp, aud="someone-else"),
        "nonce": lambda: logout_token(corp, nonce="n"),
        "no_events": lambda: logout_token(corp, events=None),
        "wrong_events": lambda: logout_token(corp, events={"http://example.com/other": {}}),
        "alg_none": lambda: "eyJhbGciOiJub25lIn0." + logout_token(corp).split(".")[1] + ".",
        "no_jti": lambda: logout_token(corp, jti=None),
        "no_sub_no_sid": lambda: logout_token(corp, sub=None, sid=None),
        "garbage": lambda: "not-a-token",
        "id_token_typ": lambda: logout_token(corp, header={"alg": "RS256", "kid": "corp-1", "typ": "JWT"}),
    }
    response = post(tokens[attack]())
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_request"
    assert "no-store" in response["Cache-Control"]
    assert not ended(user_session)


def test_replayed_token_is_refused(corp, user):
    token = logout_token(corp)
    _, first = corp_login(user, corp)
    assert post(token).status_code == HTTPStatus.OK
    _, second = corp_login(user, corp)  # a new session from the same upstream sid
    response = post(token)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "already used" in response.json()["error_description"]
    assert not ended(second)


def test_not_configured_is_400(corp, user, settings):
    settings.IDP_LOGOUT = {}
    assert post(logout_token(corp)).status_code == HTTPStatus.BAD_REQUEST


def test_get_on_backchannel_is_405(corp):
    assert (
        Client().get(reverse("idp_logout:upstream_backchannel_logout")).status_code
        == HTTPStatus.METHOD_NOT_ALLOWED
    )


def test_upstream_frontchannel_ends_the_session(corp, user):
    _, user_session = corp_login(user, corp)
    response = Client().get(
        reverse("idp_logout:upstream_frontchannel_logout"), {"iss": corp.issuer, "sid": "corp-sid-1"}
    )
    assert response.status_code == HTTPStatus.OK
    assert "no-store" in response["Cache-Control"]
    assert ended(user_session) and user_session.end_reason == EndReason.UPSTREAM_LOGOUT


@pytest.mark.parametrize(
    "params",
    [{"iss": "https://evil.example.com", "sid": "corp-sid-1"}, {"sid": "corp-sid-1"}, {"iss": "ISS"}, {}],
)
def test_bad_upstream_frontchannel_is_400_and_ends_nothing(corp, user, params):
    _, user_session = corp_login(user, corp)
    params = {k: (corp.issuer if v == "ISS" else v) for k, v in params.items()}
    response = Client().get(reverse("idp_logout:upstream_frontchannel_logout"), params)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert not ended(user_session)


def test_deeply_nested_json_token_is_a_400_not_a_500(corp):
    import base64

    nested = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
    response = post(f"{nested}.e30.AAAA")
    assert response.status_code == HTTPStatus.BAD_REQUEST
