"""One ``sub`` per user everywhere: ID tokens, logout tokens and hint matching agree, also when a project
changes ``sub`` in its validator's claim code."""

import json
import logging
from http import HTTPStatus

import pytest
from django.db import connection, transaction
from jwcrypto import jwt
from oauth2_provider.oauth2_validators import OAuth2Validator

from django_idp_logout.oauth.validator import IdpLogoutOAuth2Validator, IdpLogoutValidatorMixin
from django_idp_logout.services.subject import subject_for
from tests.conftest import POST_LOGOUT_URI
from tests.test_end_session import run_logout

pytestmark = pytest.mark.django_db

SYNC = {"BACKCHANNEL_DELIVERY": "sync", "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True}


class RequestAgnosticSubValidator(IdpLogoutOAuth2Validator):
    """DOT's request-agnostic form: claim values are callables of the request."""

    def get_additional_claims(self):
        return {"sub": lambda request: f"user-{request.user.username}"}


class PerClientSubValidator(IdpLogoutOAuth2Validator):
    """DOT's request-dependent form, with a pairwise-style subject (differs per client)."""

    def get_additional_claims(self, request):
        return {"sub": f"{request.client.client_id}:{request.user.pk}"}


class ClaimCodeNeedingTheTokenRequest(IdpLogoutOAuth2Validator):
    def get_additional_claims(self, request):
        return {"sub": f"{request.grant_type.upper()}-{request.user.pk}"}


class ExplicitSubjectValidator(ClaimCodeNeedingTheTokenRequest):
    def get_subject(self, user, application=None):
        return f"AUTHORIZATION_CODE-{user.pk}"


def use_validator(settings, validator_class):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OAUTH2_VALIDATOR_CLASS": f"{__name__}.{validator_class.__name__}",
    }


def claims_of(token: str) -> dict:
    return json.loads(jwt.JWT(jwt=token).token.objects["payload"])


@pytest.fixture
def logout_token_of(
    client,
    user,
    application,
    oidc_login,
    backchannel_receiver,
    logout_settings_factory,
    settings,
    django_capture_on_commit_callbacks,
):
    """With a validator class: sign in, sign out; returns (ID token claims, logout token claims)."""

    def run(validator_class):
        use_validator(settings, validator_class)
        settings.IDP_LOGOUT = dict(SYNC)
        logout_settings_factory(application, backchannel_logout_uri=backchannel_receiver.url("/bc"))
        id_token = sign_in_and_out(client, user, application, oidc_login, django_capture_on_commit_callbacks)
        (post,) = backchannel_receiver.posts_to("/bc")
        return claims_of(id_token), claims_of(post.form["logout_token"][0])

    return run


def sign_in_and_out(client, user, application, oidc_login, capture) -> str:
    """The code flow, then an RP-initiated logout that skips the prompt; returns the ID token."""
    id_token = oidc_login(user, application)["id_token"]
    with capture(execute=True):  # run the after-commit delivery
        response = run_logout(client, id_token_hint=id_token, post_logout_redirect_uri=POST_LOGOUT_URI)
    assert response.status_code == HTTPStatus.FOUND and response["Location"] == POST_LOGOUT_URI
    return id_token


@pytest.mark.parametrize(
    ("validator_class", "expected"),
    [
        (IdpLogoutOAuth2Validator, "{pk}"),
        (RequestAgnosticSubValidator, "user-alice"),
        (PerClientSubValidator, "example-rp:{pk}"),
        (ExplicitSubjectValidator, "AUTHORIZATION_CODE-{pk}"),
    ],
)
def test_logout_tokens_carry_the_sub_of_the_id_tokens(validator_class, expected, user, logout_token_of):
    id_claims, logout_claims = logout_token_of(validator_class)
    assert id_claims["sub"] == logout_claims["sub"] == expected.format(pk=user.pk)


def test_claim_code_that_needs_the_token_request_leaves_the_sub_unknown_and_says_so(
    user, application, settings, caplog
):
    """Guessing str(user.pk) could name another user where subjects are numbers: unknown instead."""
    use_validator(settings, ClaimCodeNeedingTheTokenRequest)
    with caplog.at_level(logging.WARNING, logger="django_idp_logout.oauth.validator"):
        assert subject_for(user, application) is None
    assert "Override get_subject()" in caplog.text


def test_with_an_unknown_sub_the_logout_token_names_only_the_sid(logout_token_of):
    id_claims, logout_claims = logout_token_of(ClaimCodeNeedingTheTokenRequest)
    assert "sub" not in logout_claims
    assert logout_claims["sid"] == id_claims["sid"]


class BrokenSubjectValidator(IdpLogoutOAuth2Validator):
    def get_subject(self, user, application=None):
        raise RuntimeError("directory down")


def test_a_get_subject_that_raises_does_not_block_delivery(logout_token_of):
    id_claims, logout_claims = logout_token_of(BrokenSubjectValidator)
    assert "sub" not in logout_claims and logout_claims["sid"] == id_claims["sid"]


def test_an_unknown_sub_never_matches_a_hint(
    client, user, application, oidc_login, id_token_factory, settings
):
    use_validator(settings, ClaimCodeNeedingTheTokenRequest)
    oidc_login(user, application)
    for sub in (str(user.pk), f"AUTHORIZATION_CODE-{user.pk}"):
        prompt = run_logout(client, id_token_hint=id_token_factory(sub=sub))
        assert prompt.status_code == HTTPStatus.OK and b'id="logout-confirm"' in prompt.content


def test_a_validator_without_the_mixin_gives_dots_default(user, application, settings):
    settings.OAUTH2_PROVIDER = {
        **settings.OAUTH2_PROVIDER,
        "OAUTH2_VALIDATOR_CLASS": "oauth2_provider.oauth2_validators.OAuth2Validator",
    }
    assert not issubclass(OAuth2Validator, IdpLogoutValidatorMixin)
    assert subject_for(user, application) == str(user.pk)


def test_a_hint_without_sid_matches_the_custom_sub(
    client, user, application, oidc_login, id_token_factory, settings
):
    """Hints from before this app was installed carry no sid: they are matched by sub, the custom one."""
    use_validator(settings, RequestAgnosticSubValidator)
    oidc_login(user, application)
    foreign_sub = id_token_factory(sub=str(user.pk))  # DOT's default sub: not what this OP issues
    prompt = run_logout(client, id_token_hint=foreign_sub, post_logout_redirect_uri=POST_LOGOUT_URI)
    assert prompt.status_code == HTTPStatus.OK and b'id="logout-confirm"' in prompt.content

    own_sub = id_token_factory(sub="user-alice")
    response = run_logout(client, id_token_hint=own_sub, post_logout_redirect_uri=POST_LOGOUT_URI)
    assert response["Location"] == POST_LOGOUT_URI


class ClaimCodeWithAFailingQuery(IdpLogoutOAuth2Validator):
    def get_additional_claims(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column FROM no_such_table")
        return {}


def test_claim_code_whose_query_fails_leaves_an_open_transaction_usable(user, application, settings):
    use_validator(settings, ClaimCodeWithAFailingQuery)
    with transaction.atomic():
        assert subject_for(user, application) is None  # in a savepoint, rolled back
        assert type(user).objects.filter(pk=user.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_mode_the_sub_costs_no_query_and_a_failing_one_breaks_nothing(
    user, application, settings, django_assert_num_queries
):
    """The delivery worker asks outside any transaction: no savepoint (nothing to protect), so claim
    code that needs no query sends none."""
    use_validator(settings, PerClientSubValidator)
    with django_assert_num_queries(0):
        assert subject_for(user, application) == f"{application.client_id}:{user.pk}"
    use_validator(settings, ClaimCodeWithAFailingQuery)
    assert subject_for(user, application) is None
    assert type(user).objects.filter(pk=user.pk).exists()
