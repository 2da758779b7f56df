"""The token endpoint with session binding: same answers as DOT, fewer statements than DOT.

The validator reads a code's grant once per token request (DOT reads it up to six times) and does not
read back the ID token it has just signed. These tests hold it to DOT's behaviour for every input, show
that the short-cuts cannot be reached from outside one token response, and count the statements.
"""

import json
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from jwcrypto import jwt
from oauth2_provider.models import get_access_token_model, get_grant_model, get_id_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.common import Request

from django_idp_logout.models import SessionToken
from django_idp_logout.oauth import lookups
from django_idp_logout.oauth.validator import IdpLogoutOAuth2Validator, IdpLogoutValidatorMixin
from tests.conftest import REDIRECT_URI, pkce_challenge

pytestmark = pytest.mark.django_db

Grant = get_grant_model()
AccessToken = get_access_token_model()
IDToken = get_id_token_model()

PLAIN_DOT = {
    "OAUTH2_VALIDATOR_CLASS": "oauth2_provider.oauth2_validators.OAuth2Validator",
    "OAUTH2_BACKEND_CLASS": "oauth2_provider.oauth2_backends.OAuthLibCore",
}


def make_grant(application, user, *, expired=False, **fields):
    values = {
        "application": application,
        "user": user,
        "code": secrets.token_urlsafe(24),
        "expires": timezone.now() + timedelta(seconds=-5 if expired else 60),
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "code_challenge": pkce_challenge("v" * 50),
        "code_challenge_method": "S256",
        **fields,
    }
    return Grant.objects.create(**values)


def answers(validator, code, client):
    """Every grant look-up oauthlib makes during one code exchange, on one fresh oauthlib request,
    in oauthlib's order, and the request attributes validate_code sets."""
    request = Request("https://op.example/o/token/")
    request.client = client
    result = {
        "scopes_before": validator.get_authorization_code_scopes(
            client.client_id, code, REDIRECT_URI, request
        )
    }
    result["valid"] = validator.validate_code(client.client_id, code, client, request)
    if result["valid"]:
        result["challenge"] = validator.get_code_challenge(code, request)
        result["challenge_method"] = validator.get_code_challenge_method(code, request)
        result["redirect_ok"] = validator.confirm_redirect_uri(
            client.client_id, code, REDIRECT_URI, client, request
        )
        result["redirect_other"] = validator.confirm_redirect_uri(
            client.client_id, code, "https://evil.example/cb", client, request
        )
    result["nonce"] = validator.get_authorization_code_nonce(client.client_id, code, REDIRECT_URI, request)
    for name in ("scopes", "user", "nonce", "claims"):
        result[f"request.{name}"] = getattr(request, name, None)
    return result


@pytest.mark.parametrize(
    "case",
    ["valid", "valid with nonce and claims", "no PKCE", "expired", "another client's code", "unknown code"],
)
def test_code_validation_answers_exactly_as_dot(case, user, application_factory):
    client, other_client = application_factory(), application_factory()
    code = "no-such-code"
    if case == "valid":
        code = make_grant(client, user).code
    elif case == "valid with nonce and claims":
        code = make_grant(client, user, nonce="n-123", claims=json.dumps({"userinfo": {"email": None}})).code
    elif case == "no PKCE":
        code = make_grant(client, user, code_challenge="", code_challenge_method="").code
    elif case == "expired":
        code = make_grant(client, user, expired=True).code
    elif case == "another client's code":
        code = make_grant(other_client, user, nonce="theirs").code

    ours = answers(IdpLogoutOAuth2Validator(), code, client)
    dot = answers(OAuth2Validator(), code, client)

    assert ours == dot
    assert ours["valid"] is (case.startswith("valid") or case == "no PKCE")


def test_a_grant_is_read_once_per_code_exchange(user, application, oidc_login, client, settings):
    """DOT's own statements on the grant table during an exchange: 8. Ours: the memoised read, DOT's
    RFC 8707 resource check inside save_bearer_token, and the read that deleting the code needs."""

    ours = dict(settings.OAUTH2_PROVIDER)

    def grant_reads(config):
        settings.OAUTH2_PROVIDER = {**ours, **config}
        code, verifier = authorize(client, user, application)
        with CaptureQueriesContext(connection) as captured:
            exchange(Client(), application, code, verifier)
        return sum(
            1
            for q in captured.captured_queries
            if q["sql"].startswith("SELECT")
            and f'"{get_grant_model()._meta.db_table}"' in q["sql"].split(" WHERE")[0]
        )

    assert grant_reads({}) == 3
    assert grant_reads(PLAIN_DOT) == 8


def test_binding_costs_no_statements_on_exchange_and_at_most_the_lock_on_refresh(
    user, application, client, settings, logout_settings_factory
):
    """The whole token POST, ours against plain DOT on the same data. A coordinated client adds the
    session-row lock (race safety); the binding itself costs nothing net. The POSTs come from the
    RP's back end, without the browser's cookies."""
    rp_back_end = Client()
    ours = dict(settings.OAUTH2_PROVIDER)
    settings.IDP_LOGOUT = {"COORDINATE_LIFETIME_WITH_USER_SESSION": False}  # "ours": not coordinated

    def statements(config):
        settings.OAUTH2_PROVIDER = {**ours, **config}
        code, verifier = authorize(client, user, application)
        with CaptureQueriesContext(connection) as captured:
            body = exchange(rp_back_end, application, code, verifier)
        exchange_count = len(captured.captured_queries)
        with CaptureQueriesContext(connection) as captured:
            refresh(rp_back_end, application, body["refresh_token"])
        return exchange_count, len(captured.captured_queries)

    plain_exchange, plain_refresh = statements(PLAIN_DOT)
    ours_exchange, ours_refresh = statements({})
    logout_settings_factory(application, coordinate_lifetime_with_user_session=True)
    coordinated_exchange, coordinated_refresh = statements({})

    assert (ours_exchange, coordinated_exchange) == (plain_exchange - 7, plain_exchange - 6)
    assert (ours_refresh, coordinated_refresh) == (plain_refresh, plain_refresh + 1)


def test_the_access_token_points_at_the_id_token_it_was_issued_with(user, application, oidc_login):
    body = oidc_login(user, application)
    jti = json.loads(jwt.JWT(jwt=body["id_token"]).token.objects["payload"])["jti"]
    access_token = AccessToken.objects.get(token_checksum=checksum(body["access_token"]))
    assert access_token.id_token == IDToken.objects.get(jti=jti)
    assert SessionToken.objects.filter(id_token=access_token.id_token).exists()


def test_the_id_token_short_cut_ends_with_the_token_response(user, application, oidc_login):
    """After the response, an ID token is read from the database again: a deleted one is refused."""
    body = oidc_login(user, application)
    assert lookups._just_issued_id_token.get() is None
    validator = IdpLogoutOAuth2Validator()
    assert validator._load_id_token(body["id_token"]) is not None
    IDToken.objects.all().delete()
    assert validator._load_id_token(body["id_token"]) is None


def test_a_code_presented_by_another_client_is_refused_and_stays_usable(user, application_factory, client):
    """The memo is keyed by code only for DOT's code-only look-ups; the client check still holds."""
    owner, attacker = application_factory(), application_factory()
    code, verifier = authorize(client, user, owner)

    stolen = exchange(client, attacker, code, verifier, expect=400)
    assert stolen["error"] == "invalid_grant"
    assert exchange(client, owner, code, verifier)["id_token"]


def test_a_code_cannot_be_exchanged_twice(user, application, client):
    code, verifier = authorize(client, user, application)
    exchange(client, application, code, verifier)
    assert exchange(client, application, code, verifier, expect=400)["error"] == "invalid_grant"


def test_pkce_and_redirect_uri_are_still_enforced(user, application, client):
    code, verifier = authorize(client, user, application)
    assert exchange(client, application, code, "w" * 50, expect=400)["error"] == "invalid_grant"
    code, verifier = authorize(client, user, application)
    wrong_uri = exchange(
        client, application, code, verifier, redirect_uri="https://rp.example.com/other", expect=400
    )
    assert wrong_uri["error"] == "invalid_request"


# --- helpers ---------------------------------------------------------------------------------------


def checksum(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def authorize(browser, user, application) -> tuple[str, str]:
    browser.force_login(user)
    verifier = secrets.token_urlsafe(48)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": application.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
            "state": "s",
            "nonce": "n",
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    response = browser.get(f"{reverse('oauth2_provider:authorize')}?{query}")
    assert response.status_code == 302, response.content[:300]
    return parse_qs(urlsplit(response["Location"]).query)["code"][0], verifier


def exchange(
    browser, application, code, verifier, *, redirect_uri=REDIRECT_URI, expect=200, client_id=None, **extra
) -> dict:
    """POST a code exchange; ``extra`` adds parameters (planted ones, say)."""
    response = browser.post(
        reverse("oauth2_provider:token"),
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id or application.client_id,
            "client_secret": application.client_secret,
            "code_verifier": verifier,
            **extra,
        },
    )
    assert response.status_code == expect, response.content[:300]
    return response.json()


def refresh(browser, application, refresh_token, **extra) -> dict:
    response = browser.post(
        reverse("oauth2_provider:token"),
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": application.client_id,
            "client_secret": application.client_secret,
            **extra,
        },
    )
    assert response.status_code == 200, response.content[:300]
    return response.json()


# --- State a client cannot plant -----------------------------------------------------------------
#
# oauthlib's Request answers unknown attributes with the request's parameters, so any name we kept on
# it as a plain attribute could be sent by a client. These are every name this app has used.
PLANTED = [
    "_django_idp_logout_state",
    "_idp_logout_grant",
    "_idp_logout_issued_id_token",
    "idp_logout_session",
    "_idp_logout_coordinated",
    "_idp_logout_pending_bindings",
    "_idp_logout_deferred_id_token_bindings",
]


@pytest.mark.parametrize("name", PLANTED)
def test_planted_parameters_change_nothing_for_an_unauthenticated_client(name, application):
    """A planted memo "ab" reads as (code "a", grant "b") to code that trusts attributes."""
    body = exchange(Client(), application, "a", "v" * 50, client_id="nobody", expect=401, **{name: "ab"})
    assert body["error"] == "invalid_client"


@pytest.mark.parametrize("name", PLANTED)
def test_planted_parameters_change_nothing_for_a_real_exchange_and_refresh(
    name, user, application, client, logout_settings_factory
):
    logout_settings_factory(application, coordinate_lifetime_with_user_session=True)
    code, verifier = authorize(client, user, application)
    rp = Client()
    body = exchange(rp, application, code, verifier, **{name: ""})
    access_token = AccessToken.objects.get(token_checksum=checksum(body["access_token"]))
    assert SessionToken.objects.filter(access_token=access_token).exists()
    refreshed = refresh(rp, application, body["refresh_token"], **{name: "x"})
    new_access = AccessToken.objects.get(token_checksum=checksum(refreshed["access_token"]))
    assert SessionToken.objects.filter(access_token=new_access).exists()


@pytest.mark.parametrize("name", PLANTED)
def test_planted_parameters_on_client_credentials_give_a_token_not_a_500(name, application_factory):
    machine = application_factory(authorization_grant_type="client-credentials", algorithm="")
    response = Client().post(
        reverse("oauth2_provider:token"),
        {
            "grant_type": "client_credentials",
            "client_id": machine.client_id,
            "client_secret": machine.client_secret,
            name: "x",
        },
    )
    assert response.status_code == 200, response.content[:300]
    assert not SessionToken.objects.exists()


def test_code_look_ups_without_a_request_answer_as_dot(user, application):
    grant = make_grant(application, user, nonce="n-1")
    for validator in (IdpLogoutOAuth2Validator(), OAuth2Validator()):
        assert validator.get_authorization_code_scopes(
            application.client_id, grant.code, REDIRECT_URI, None
        ) == [
            "openid",
            "profile",
        ]
        assert (
            validator.get_authorization_code_nonce(application.client_id, grant.code, REDIRECT_URI, None)
            == "n-1"
        )


class FinalizeWithoutIdTokenAttribute(OAuth2Validator):
    """A project's finalize_id_token (below our mixin) that leaves no ``request.id_token`` behind."""

    def finalize_id_token(self, id_token, token, token_handler, request):
        serialized = super().finalize_id_token(id_token, token, token_handler, request)
        del request.id_token
        return serialized


class ValidatorOverFinalize(IdpLogoutValidatorMixin, FinalizeWithoutIdTokenAttribute):
    pass


def test_a_planted_id_token_parameter_is_never_taken_for_the_saved_row(user, application, client, settings):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OAUTH2_VALIDATOR_CLASS": f"{__name__}.ValidatorOverFinalize",
    }
    code, verifier = authorize(client, user, application)
    body = exchange(Client(), application, code, verifier, id_token="planted")
    jti = json.loads(jwt.JWT(jwt=body["id_token"]).token.objects["payload"])["jti"]
    assert str(AccessToken.objects.get(token_checksum=checksum(body["access_token"])).id_token.jti) == jti
