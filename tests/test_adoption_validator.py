"""A project's own DOT validator composes with our mixin, as the README says.

The project had subclassed DOT's ``OAuth2Validator`` before adopting the app (its own claims, its own
``sub``, its own password check). Adopting means one line: ``class Validator(IdpLogoutValidatorMixin,
ProjectValidator)``. Its code keeps working and ours works on top: ``sid``, coordination, logout.
"""

import json
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from jwcrypto import jwt
from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings

from django_idp_logout import checks
from django_idp_logout.browser import SID_SESSION_KEY
from django_idp_logout.models import SessionToken
from django_idp_logout.oauth.validator import IdpLogoutValidatorMixin
from tests.conftest import POST_LOGOUT_URI, is_signed_in, pkce_challenge
from tests.test_backchannel import SYNC
from tests.test_end_session import run_logout
from tests.test_sessions import live_tokens, refresh

pytestmark = pytest.mark.django_db

AccessToken = get_access_token_model()


class ProjectValidator(OAuth2Validator):
    """What a project had before the app: its own claims and ``sub``, and a stricter password check."""

    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "employee_id": "profile"}

    def get_additional_claims(self, request):
        return {
            "sub": f"emp-{request.user.pk}",
            "given_name": request.user.first_name,
            "employee_id": f"E{request.user.pk:05d}",
        }

    def validate_user(self, username, password, client, request, *args, **kwargs):
        if username.startswith("suspended-"):
            return False
        return super().validate_user(username, password, client, request, *args, **kwargs)


class AdoptedValidator(IdpLogoutValidatorMixin, ProjectValidator):
    """The one line of the adoption (README, "Integrate it")."""


VALIDATOR_PATH = f"{__name__}.AdoptedValidator"


@pytest.fixture
def adopted(settings):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OAUTH2_VALIDATOR_CLASS": VALIDATOR_PATH}
    settings.IDP_LOGOUT = {**SYNC}
    assert oauth2_settings.OAUTH2_VALIDATOR_CLASS is AdoptedValidator


@pytest.fixture
def employee(django_user_model):
    return django_user_model.objects.create_user("ada", password="ada-password", first_name="Ada")


def claims_of(token: str) -> dict:
    return json.loads(jwt.JWT(jwt=token).token.objects["payload"])


def test_the_composed_validator_passes_the_checks(adopted):
    assert checks.check_oidc_provider() == []


def test_code_flow_id_token_has_the_projects_claims_and_our_sid(
    client, employee, application, oidc_login, adopted
):
    tokens = oidc_login(employee, application, scope="openid profile")
    claims = claims_of(tokens["id_token"])
    assert claims["sub"] == f"emp-{employee.pk}"
    assert claims["given_name"] == "Ada"
    assert claims["employee_id"] == f"E{employee.pk:05d}"
    assert claims["sid"] == client.session[SID_SESSION_KEY]
    # userinfo: the project's claims, no sid (it names the session, not the user)
    info = client.get(
        reverse("oauth2_provider:user-info"), HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}"
    )
    assert info.status_code == HTTPStatus.OK
    assert info.json()["employee_id"] == f"E{employee.pk:05d}" and "sid" not in info.json()
    # the refreshed ID token keeps both
    refreshed = refresh(Client(), application, tokens["refresh_token"]).json()
    again = claims_of(refreshed["id_token"])
    assert (again["sub"], again["employee_id"], again["sid"]) == (
        claims["sub"],
        claims["employee_id"],
        claims["sid"],
    )


def test_logout_skips_the_prompt_for_the_hint_revokes_and_notifies_with_the_projects_sub(
    client,
    employee,
    application,
    oidc_login,
    adopted,
    logout_settings_factory,
    backchannel_receiver,
    django_capture_on_commit_callbacks,
):
    logout_settings_factory(application, backchannel_logout_uri=backchannel_receiver.url("/bc"))
    tokens = oidc_login(employee, application)
    id_claims = claims_of(tokens["id_token"])
    with django_capture_on_commit_callbacks(execute=True):
        response = run_logout(
            client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI, state="x"
        )
    assert response["Location"] == f"{POST_LOGOUT_URI}?state=x"  # validated hint: no prompt
    assert not is_signed_in(client)
    assert live_tokens(application) == (0, 0, 0)  # coordinated (the default follows DOT)
    (post,) = backchannel_receiver.posts_to("/bc")
    logout_claims = claims_of(post.form["logout_token"][0])
    assert logout_claims["sub"] == id_claims["sub"] == f"emp-{employee.pk}"
    assert logout_claims["sid"] == id_claims["sid"]


def test_a_hint_for_another_subject_does_not_skip_the_prompt(
    client, employee, django_user_model, application, oidc_login, adopted, id_token_factory
):
    oidc_login(employee, application)
    other = django_user_model.objects.create_user("bob", password="b")
    hint = id_token_factory(sub=f"emp-{other.pk}")  # no sid: matched by the project's sub
    response = run_logout(client, id_token_hint=hint)
    assert response.status_code == HTTPStatus.OK and b'id="logout-confirm"' in response.content
    assert is_signed_in(client)


@pytest.fixture
def password_client(application_factory):
    return application_factory(authorization_grant_type="password")


def password_grant(application, username, password):
    return Client().post(
        reverse("oauth2_provider:token"),
        {
            "grant_type": "password",
            "username": username,
            "password": password,
            "scope": "openid",
            "client_id": application.client_id,
            "client_secret": application.client_secret,
        },
    )


def test_the_projects_validate_user_still_decides_the_password_grant(
    django_user_model, employee, password_client, adopted
):
    django_user_model.objects.create_user("suspended-bob", password="bob-password")
    assert (
        password_grant(password_client, "suspended-bob", "bob-password").status_code == HTTPStatus.BAD_REQUEST
    )
    assert password_grant(password_client, "ada", "wrong").status_code == HTTPStatus.BAD_REQUEST
    response = password_grant(password_client, "ada", "ada-password")
    assert response.status_code == HTTPStatus.OK
    assert AccessToken.objects.get(application=password_client).user == employee
    # no browser, no session: password-grant tokens belong to none
    assert not SessionToken.objects.exists()


def test_authorize_endpoint_uses_the_composed_validator(client, employee, application, adopted):
    """The authorize endpoint (DOT's view, our backend) with the project's class: a code is issued and
    the client joins the session."""
    client.force_login(employee)
    response = client.get(
        reverse("oauth2_provider:authorize"),
        {
            "response_type": "code",
            "client_id": application.client_id,
            "redirect_uri": "https://rp.example.com/callback",
            "scope": "openid",
            "code_challenge": pkce_challenge("v" * 43),
            "code_challenge_method": "S256",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    assert "code" in parse_qs(urlsplit(response["Location"]).query)
    assert SessionToken.objects.filter(grant__isnull=False).count() == 1
