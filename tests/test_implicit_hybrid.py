"""Tokens issued at the authorize endpoint (OIDC implicit and hybrid flows) belong to the login session.

The code flow is covered by tests/test_sessions.py. Here the ID token (and, for "code id_token token" and
"id_token token", the access token) come in the fragment of the redirect from the authorize endpoint:
they must carry the session's ``sid``, be bound to the session, and go with it when the session ends for
a coordinated client.
"""

import hashlib
import secrets
from http import HTTPStatus
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from django_idp_logout import api
from django_idp_logout.browser import SID_SESSION_KEY
from django_idp_logout.models import EndReason, SessionToken, UserSession
from tests.conftest import REDIRECT_URI, is_signed_in, pkce_challenge
from tests.test_sessions import claims_of, refresh
from tests.test_token_endpoint import PLANTED

pytestmark = [
    pytest.mark.django_db,
    # DOT warns on every implicit-grant request (RFC 9700); the flow is still supported and tested here
    pytest.mark.filterwarnings("ignore:The OAuth 2.0 implicit grant:DeprecationWarning"),
]

Application = get_application_model()
AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
IDToken = get_id_token_model()
Grant = get_grant_model()

HYBRID_CODE_ID_TOKEN = (Application.GRANT_OPENID_HYBRID, "code id_token")
HYBRID_CODE_ID_TOKEN_TOKEN = (Application.GRANT_OPENID_HYBRID, "code id_token token")
IMPLICIT_ID_TOKEN_TOKEN = (Application.GRANT_IMPLICIT, "id_token token")
IMPLICIT_ID_TOKEN = (Application.GRANT_IMPLICIT, "id_token")

ALL_FLOWS = [
    pytest.param(*HYBRID_CODE_ID_TOKEN, id="hybrid-code_id_token"),
    pytest.param(*HYBRID_CODE_ID_TOKEN_TOKEN, id="hybrid-code_id_token_token"),
    pytest.param(*IMPLICIT_ID_TOKEN_TOKEN, id="implicit-id_token_token"),
    pytest.param(*IMPLICIT_ID_TOKEN, id="implicit-id_token"),
]


@pytest.fixture(autouse=True)
def front_channel_response_types(settings):
    # DOT's default already lists them; stated here so the tests do not depend on that default.
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OIDC_RESPONSE_TYPES_SUPPORTED": [
            "code",
            "id_token",
            "id_token token",
            "code id_token",
            "code id_token token",
        ],
    }


@pytest.fixture
def coordinated(settings):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": True}


def authorize(browser, application, response_type, *, nonce="n-0S6_WzA2Mj"):
    """Run the authorize endpoint signed in; returns (fragment parameters, PKCE verifier or None)."""
    params = {
        "response_type": response_type,
        "client_id": application.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "st-1",
        "nonce": nonce,
    }
    verifier = None
    if "code" in response_type.split():
        verifier = secrets.token_urlsafe(48)
        params.update(code_challenge=pkce_challenge(verifier), code_challenge_method="S256")
    response = browser.get(f"{reverse('oauth2_provider:authorize')}?{urlencode(params)}")
    assert response.status_code == HTTPStatus.FOUND, response.content[:500]
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    assert not parse_qs(location.query), "front-channel tokens must come in the fragment"
    fragment = {key: values[0] for key, values in parse_qs(location.fragment).items()}
    assert "error" not in fragment, fragment
    assert fragment["state"] == "st-1"
    return fragment, verifier


def exchange_code(browser, application, code, verifier):
    response = browser.post(
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
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()


def access_token_row(raw):
    return AccessToken.objects.get(token_checksum=hashlib.sha256(raw.encode()).hexdigest())


def browser_session(browser) -> UserSession:
    return UserSession.objects.get(sid=browser.session[SID_SESSION_KEY])


def userinfo_status(raw_access_token) -> int:
    return (
        Client()
        .get(reverse("oauth2_provider:user-info"), HTTP_AUTHORIZATION=f"Bearer {raw_access_token}")
        .status_code
    )


def app_tokens(application):
    """(access tokens, ID tokens, codes, unrevoked refresh tokens) of one client."""
    return (
        AccessToken.objects.filter(application=application).count(),
        IDToken.objects.filter(application=application).count(),
        Grant.objects.filter(application=application).count(),
        RefreshToken.objects.filter(application=application, revoked__isnull=True).count(),
    )


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    client.get("/")  # the browser's UserSession exists before any authorization
    return client


# --- sid claim and binding -------------------------------------------------------------------------


@pytest.mark.parametrize(("grant_type", "response_type"), ALL_FLOWS)
def test_front_channel_id_token_carries_the_session_sid_and_is_bound(
    signed_in, user, application_factory, grant_type, response_type
):
    application = application_factory(authorization_grant_type=grant_type)
    fragment, _ = authorize(signed_in, application, response_type)
    user_session = browser_session(signed_in)
    assert user_session.user == user and user_session.ended_at is None

    claims = claims_of(fragment["id_token"])
    assert claims["sid"] == signed_in.session[SID_SESSION_KEY] == user_session.sid
    assert claims["sid"] != signed_in.session.session_key
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["aud"] == application.client_id

    id_token = IDToken.objects.get(jti=claims["jti"])
    assert id_token.user == user and id_token.application == application
    assert SessionToken.objects.get(id_token=id_token).user_session == user_session

    if "token" in response_type.split():
        access_token = access_token_row(fragment["access_token"])
        assert access_token.user == user and access_token.application == application
        assert SessionToken.objects.get(access_token=access_token).user_session == user_session
        assert userinfo_status(fragment["access_token"]) == HTTPStatus.OK
    else:
        assert "access_token" not in fragment
        assert not AccessToken.objects.filter(application=application).exists()

    if "code" in response_type.split():
        grant = Grant.objects.get(code=fragment["code"])
        assert SessionToken.objects.get(grant=grant).user_session == user_session
    else:
        assert "code" not in fragment


def test_each_browser_gets_its_own_sid_in_front_channel_id_tokens(user, application_factory):
    application = application_factory(authorization_grant_type=Application.GRANT_IMPLICIT)
    laptop, phone = Client(), Client()
    sids = []
    for browser in (laptop, phone):
        browser.force_login(user)
        fragment, _ = authorize(browser, application, "id_token token")
        sids.append(claims_of(fragment["id_token"])["sid"])
        assert sids[-1] == browser.session[SID_SESSION_KEY]
    assert sids[0] != sids[1]


def test_hybrid_code_exchange_tokens_share_the_front_channel_sid(signed_in, application_factory):
    application = application_factory(authorization_grant_type=Application.GRANT_OPENID_HYBRID)
    fragment, verifier = authorize(signed_in, application, "code id_token")
    tokens = exchange_code(signed_in, application, fragment["code"], verifier)
    user_session = browser_session(signed_in)
    assert claims_of(tokens["id_token"])["sid"] == claims_of(fragment["id_token"])["sid"] == user_session.sid
    bound = SessionToken.objects.filter(user_session=user_session, application=application)
    assert bound.filter(access_token=access_token_row(tokens["access_token"])).exists()
    assert bound.filter(id_token__isnull=False).count() == 2  # the front-channel one and the token endpoint's
    assert bound.filter(refresh_token__isnull=False).count() == 1


# --- logout ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("grant_type", "response_type"), ALL_FLOWS)
def test_logout_revokes_front_channel_tokens_of_coordinated_client(
    signed_in, user, application_factory, coordinated, grant_type, response_type
):
    application = application_factory(authorization_grant_type=grant_type)
    bystander = application_factory(authorization_grant_type=grant_type)
    fragment, _ = authorize(signed_in, application, response_type)
    user_session = browser_session(signed_in)
    other_browser = Client()
    other_browser.force_login(user)
    authorize(other_browser, bystander, response_type)  # another session of the same user
    before = app_tokens(bystander)
    assert app_tokens(application)[:2] == (1 if "token" in response_type.split() else 0, 1)

    signed_in.post(reverse("idp_logout:logout"), {"confirm": "yes"})

    assert not is_signed_in(signed_in)
    user_session.refresh_from_db()
    assert user_session.end_reason == EndReason.USER_LOGOUT
    assert app_tokens(application) == (0, 0, 0, 0)
    assert not SessionToken.objects.filter(user_session=user_session).exists()
    if "access_token" in fragment:
        assert userinfo_status(fragment["access_token"]) == HTTPStatus.UNAUTHORIZED
    assert app_tokens(bystander) == before  # the other session keeps its tokens


def test_logout_revokes_hybrid_tokens_from_both_endpoints(signed_in, application_factory, coordinated):
    application = application_factory(authorization_grant_type=Application.GRANT_OPENID_HYBRID)
    fragment, verifier = authorize(signed_in, application, "code id_token token")
    tokens = exchange_code(signed_in, application, fragment["code"], verifier)
    assert app_tokens(application) == (2, 2, 0, 1)

    signed_in.post(reverse("idp_logout:logout"), {"confirm": "yes"})

    assert app_tokens(application) == (0, 0, 0, 0)
    assert userinfo_status(fragment["access_token"]) == HTTPStatus.UNAUTHORIZED
    assert userinfo_status(tokens["access_token"]) == HTTPStatus.UNAUTHORIZED
    response = refresh(Client(), application, tokens["refresh_token"])
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("grant_type", "response_type"), ALL_FLOWS)
def test_uncoordinated_front_channel_tokens_outlive_the_session(
    signed_in, application_factory, grant_type, response_type, settings
):
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": False}
    application = application_factory(authorization_grant_type=grant_type)
    fragment, _ = authorize(signed_in, application, response_type)
    before = app_tokens(application)
    signed_in.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert not is_signed_in(signed_in)
    assert app_tokens(application) == before
    if "access_token" in fragment:
        assert userinfo_status(fragment["access_token"]) == HTTPStatus.OK


def test_implicit_client_is_recorded_as_a_client_of_the_session(signed_in, user, application_factory):
    application = application_factory(authorization_grant_type=Application.GRANT_IMPLICIT)
    authorize(signed_in, application, "id_token token")
    assert [s.sid for s in api.query_sessions(client_id=application.client_id)] == [
        browser_session(signed_in).sid
    ]


def test_ending_the_session_through_the_api_revokes_implicit_tokens(
    signed_in, user, application_factory, coordinated
):
    application = application_factory(authorization_grant_type=Application.GRANT_IMPLICIT)
    fragment, _ = authorize(signed_in, application, "id_token token")
    ended = api.end_sessions(api.query_sessions(user=user))
    assert len(ended) == 1
    assert ended[0].revoked_client_ids == [application.client_id]
    assert userinfo_status(fragment["access_token"]) == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize("value", ["", "ab"])
@pytest.mark.parametrize("name", PLANTED)
def test_planted_parameters_on_the_authorize_url_change_nothing(signed_in, application_factory, name, value):
    """oauthlib's request answers unknown attributes with the request's parameters. An older version of
    the validator read its "coordinated" flag as an attribute, so ``_idp_logout_coordinated=`` on the
    authorize URL skipped the session-row lock. With any name the app has used planted, the same
    statements run and the tokens are bound to the browser's session."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    application = application_factory(
        authorization_grant_type=IMPLICIT_ID_TOKEN_TOKEN[0], client_type=Application.CLIENT_PUBLIC
    )

    def authorize_with(extra: dict) -> tuple[list[str], dict]:
        params = {
            "response_type": "id_token token",
            "client_id": application.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
            "state": "st-1",
            "nonce": secrets.token_hex(8),
            **extra,
        }
        with CaptureQueriesContext(connection) as captured:
            response = signed_in.get(f"{reverse('oauth2_provider:authorize')}?{urlencode(params)}")
        assert response.status_code == HTTPStatus.FOUND
        fragment = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).fragment).items()}
        reads = [
            q["sql"] for q in captured.captured_queries if 'FROM "django_idp_logout_usersession"' in q["sql"]
        ]
        return reads, fragment

    honest, _ = authorize_with({})
    planted, fragment = authorize_with({name: value})
    assert len(planted) == len(honest) >= 2  # the middleware's read, then the lock before issuing
    access_token = access_token_row(fragment["access_token"])
    user_session = browser_session(signed_in)
    assert SessionToken.objects.filter(access_token=access_token, user_session=user_session).exists()
    assert SessionToken.objects.filter(id_token=access_token.id_token, user_session=user_session).exists()


@pytest.mark.parametrize("planted", ["authorization_code", "refresh_token"])
def test_a_planted_grant_type_on_the_authorize_url_still_binds_the_id_token(
    signed_in, application_factory, coordinated, planted
):
    """At the authorize endpoint ``grant_type`` is whatever the client put in the URL: an ID token of
    the "id_token" response type must be bound (and go with the session) all the same."""
    application = application_factory(
        authorization_grant_type=IMPLICIT_ID_TOKEN[0], client_type=Application.CLIENT_PUBLIC
    )
    params = {
        "response_type": "id_token",
        "client_id": application.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": "st-1",
        "nonce": "n-1",
        "grant_type": planted,
    }
    response = signed_in.get(f"{reverse('oauth2_provider:authorize')}?{urlencode(params)}")
    assert response.status_code == HTTPStatus.FOUND
    id_token = IDToken.objects.get(application=application)
    assert SessionToken.objects.filter(id_token=id_token, user_session=browser_session(signed_in)).exists()

    api.end_session(user_session=browser_session(signed_in), reason=EndReason.TERMINATED)
    assert not IDToken.objects.filter(application=application).exists()
