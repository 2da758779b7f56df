"""A DOT project that adopts the app: DOT's own OIDC_RP_INITIATED_LOGOUT_* settings keep their meaning.

Each test sets DOT's setting the way an existing project has it in ``OAUTH2_PROVIDER`` and runs the
real flow: code flow at DOT's endpoints, our end session endpoint, the prompt, the token endpoint.
"""

import time
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from django_idp_logout import checks
from django_idp_logout.conf import app_settings
from tests.conftest import POST_LOGOUT_URI, end_session_url, follow_to_logout_page, is_signed_in
from tests.test_end_session import confirm_prompt, run_logout
from tests.test_sessions import coordinate, live_tokens, refresh

pytestmark = pytest.mark.django_db

UNSET = object()


def dot(settings, **values):
    """Set DOT settings as a project's OAUTH2_PROVIDER would (UNSET: the key is absent)."""
    provider = {**settings.OAUTH2_PROVIDER}
    for name, value in values.items():
        provider.pop(name, None)
        if value is not UNSET:
            provider[name] = value
    settings.OAUTH2_PROVIDER = provider


def idp(settings, **values):
    settings.IDP_LOGOUT = {name: value for name, value in values.items() if value is not UNSET}


def ids(messages):
    return [m.id for m in messages]


# --- OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS ------------------------------------------------------------


@pytest.mark.parametrize(
    ("delete_tokens", "coordinate_setting", "per_client", "revoked"),
    [
        # IDP_LOGOUT leaves it unset: the global default follows DOT's setting (DOT's default: True).
        (UNSET, UNSET, None, True),
        (True, UNSET, None, True),
        (False, UNSET, None, False),
        # IDP_LOGOUT sets it: ours decides.
        (False, True, None, True),
        (True, False, None, False),
        (UNSET, False, None, False),
        # Per-client settings still win over both.
        (UNSET, UNSET, False, False),
        (False, UNSET, True, True),
        (True, UNSET, False, False),
    ],
)
def test_global_coordination_default_follows_dot_delete_tokens(
    client, user, application, oidc_login, settings, delete_tokens, coordinate_setting, per_client, revoked
):
    dot(settings, OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS=delete_tokens)
    idp(settings, COORDINATE_LIFETIME_WITH_USER_SESSION=coordinate_setting)
    if per_client is not None:
        coordinate(application, per_client)
    tokens = oidc_login(user, application)
    client.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    assert not is_signed_in(client)
    assert live_tokens(application) == ((0, 0, 0) if revoked else (1, 1, 1))
    response = refresh(Client(), application, tokens["refresh_token"])
    assert response.status_code == (HTTPStatus.BAD_REQUEST if revoked else HTTPStatus.OK)


def test_explicit_none_also_follows_dot(settings):
    dot(settings, OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS=False)
    idp(settings, COORDINATE_LIFETIME_WITH_USER_SESSION=None)
    assert app_settings.COORDINATE_LIFETIME_WITH_USER_SESSION is False
    assert checks.check_settings() == []
    dot(settings, OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS=UNSET)
    assert app_settings.COORDINATE_LIFETIME_WITH_USER_SESSION is True


def test_contradicting_delete_tokens_and_coordinate_settings_are_named(settings):
    dot(settings, OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS=True)
    idp(settings, COORDINATE_LIFETIME_WITH_USER_SESSION=False)
    [warning] = [m for m in checks.check_dot_logout_settings() if m.id == "django_idp_logout.W100"]
    assert "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS" in warning.msg
    assert "COORDINATE_LIFETIME_WITH_USER_SESSION" in warning.hint
    # Agreeing, or only one of them set: nothing to say.
    idp(settings, COORDINATE_LIFETIME_WITH_USER_SESSION=True)
    assert "django_idp_logout.W100" not in ids(checks.check_dot_logout_settings())
    dot(settings, OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS=UNSET)
    idp(settings, COORDINATE_LIFETIME_WITH_USER_SESSION=False)
    assert "django_idp_logout.W100" not in ids(checks.check_dot_logout_settings())


# --- OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS --------------------------------------------------


def test_expired_hint_is_a_400_when_dot_refuses_expired_tokens(
    client, user, application, id_token_factory, settings
):
    dot(settings, OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS=False)
    client.force_login(user)
    hint = id_token_factory(sub=str(user.pk), expired=True)
    response = client.get(end_session_url(id_token_hint=hint, post_logout_redirect_uri=POST_LOGOUT_URI))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"The id_token_hint has expired." in response.content
    assert "Location" not in response
    assert is_signed_in(client)


def test_fresh_hint_still_works_when_dot_refuses_expired_tokens(
    client, user, application, oidc_login, settings
):
    dot(settings, OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS=False)
    tokens = oidc_login(user, application)
    response = run_logout(
        client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI, state="s"
    )
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"{POST_LOGOUT_URI}?state=s"
    assert not is_signed_in(client)


@pytest.mark.parametrize(
    ("exp", "nbf", "accepted"),
    [
        (-30, None, True),  # within DOT's 60-second leeway
        (-120, None, False),
        ("tomorrow", None, False),
        ("missing", None, False),
        (True, None, False),
        (600, 600, False),  # not valid yet
        (600, "soon", False),
        (600, -600, True),
    ],
    ids=[
        "leeway",
        "expired",
        "exp-string",
        "exp-missing",
        "exp-bool",
        "nbf-future",
        "nbf-string",
        "nbf-past",
    ],
)
def test_expiry_claims_when_dot_refuses_expired_tokens(
    client, user, application, id_token_factory, settings, exp, nbf, accepted
):
    dot(settings, OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS=False)
    now = int(time.time())
    claims = {"exp": now + exp if type(exp) is int else exp}
    if nbf is not None:
        claims["nbf"] = now + nbf if type(nbf) is int else nbf
    drop = ("exp",) if exp == "missing" else ()
    hint = id_token_factory(sub=str(user.pk), extra=claims, drop=drop)
    response = client.get(end_session_url(id_token_hint=hint))
    assert response.status_code == (HTTPStatus.FOUND if accepted else HTTPStatus.BAD_REQUEST)


def test_expired_hint_is_accepted_by_default(client, user, application, id_token_factory, settings):
    dot(settings, OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS=UNSET)
    hint = id_token_factory(sub=str(user.pk), expired=True)
    assert client.get(end_session_url(id_token_hint=hint)).status_code == HTTPStatus.FOUND


# --- OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS ---------------------------------------------------

HTTP_POST_LOGOUT = "http://rp.example.com/signed-out"


@pytest.mark.parametrize(
    ("strict", "client_type", "uri", "redirected"),
    [
        (True, "public", HTTP_POST_LOGOUT, False),  # DOT's rule: http only for confidential clients
        (True, "confidential", HTTP_POST_LOGOUT, True),
        (True, "public", POST_LOGOUT_URI, True),  # https is fine for every client
        (False, "public", HTTP_POST_LOGOUT, True),  # DOT's default: our exact match alone
    ],
)
def test_strict_redirect_uris_applies_dots_rule_on_top_of_exact_match(
    client, user, application_factory, oidc_login, settings, strict, client_type, uri, redirected
):
    dot(settings, OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS=strict)
    application = application_factory(
        client_type=client_type, post_logout_redirect_uris=f"{POST_LOGOUT_URI} {HTTP_POST_LOGOUT}"
    )
    tokens = oidc_login(user, application)
    response = client.get(end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=uri))
    if not redirected:
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert b"only allowed for confidential clients" in response.content
        assert is_signed_in(client)
        return
    response = run_logout(client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=uri)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == uri


def test_strict_redirect_uris_never_loosens_the_exact_match(client, user, application, oidc_login, settings):
    dot(settings, OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS=True)
    tokens = oidc_login(user, application)
    for uri in (f"{POST_LOGOUT_URI}/", f"{POST_LOGOUT_URI}?x=1", POST_LOGOUT_URI.upper()):
        response = client.get(end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=uri))
        assert response.status_code == HTTPStatus.BAD_REQUEST, uri


# --- OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT ----------------------------------------------------------


def test_always_prompt_set_explicitly_never_skips_the_prompt(client, user, application, oidc_login, settings):
    dot(settings, OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT=True)
    tokens = oidc_login(user, application)
    # A validated hint for this very session would skip the prompt (see below); with DOT's setting it
    # does not.
    prompt = follow_to_logout_page(
        client,
        client.get(
            end_session_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
        ),
    )
    assert prompt.status_code == HTTPStatus.OK
    assert b'id="logout-confirm"' in prompt.content
    assert is_signed_in(client)
    response = confirm_prompt(client, prompt)
    assert not is_signed_in(client)
    assert response["Location"] == POST_LOGOUT_URI


@pytest.mark.parametrize("always_prompt", [UNSET, False])
def test_always_prompt_left_unset_or_false_keeps_the_validated_skip(
    client, user, application, oidc_login, settings, always_prompt
):
    dot(settings, OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT=always_prompt)
    tokens = oidc_login(user, application)
    response = run_logout(client, id_token_hint=tokens["id_token"], post_logout_redirect_uri=POST_LOGOUT_URI)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == POST_LOGOUT_URI
    assert not is_signed_in(client)


def test_always_prompt_wins_over_show_logout_prompt_false_and_is_named(
    client, user, application, oidc_login, settings
):
    dot(settings, OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT=True)
    idp(settings, SHOW_LOGOUT_PROMPT=False)
    [warning] = [m for m in checks.check_dot_logout_settings() if m.id == "django_idp_logout.W101"]
    assert "SHOW_LOGOUT_PROMPT" in warning.msg
    tokens = oidc_login(user, application)
    prompt = follow_to_logout_page(client, client.get(end_session_url(id_token_hint=tokens["id_token"])))
    assert b'id="logout-confirm"' in prompt.content
    assert is_signed_in(client)


def test_show_logout_prompt_false_alone_signs_out_without_prompt(client, user, settings):
    idp(settings, SHOW_LOGOUT_PROMPT=False)
    assert "django_idp_logout.W101" not in ids(checks.check_dot_logout_settings())
    client.force_login(user)
    follow_to_logout_page(client, client.get(end_session_url()))
    assert not is_signed_in(client)


# --- DOT's own logout view ---------------------------------------------------------------------------


def test_dots_own_logout_view_still_served_is_an_error(settings):
    settings.ROOT_URLCONF = "tests.urls_plain_dot"
    [error] = [m for m in checks.check_dot_logout_settings() if m.id == "django_idp_logout.E100"]
    assert "django_idp_logout.oauth.urls" in error.hint


def test_the_example_project_passes_the_dot_logout_checks():
    assert checks.check_dot_logout_settings() == []
