"""System checks of the client-site kit name the misconfiguration and its fix."""

from __future__ import annotations

import pytest
from django.core.checks import Error, Warning

from django_idp_logout.rp import checks
from tests.rp.conftest import RP_MIDDLEWARE


def ids(messages):
    return [m.id for m in messages]


def all_checks():
    return [
        *checks.check_settings(),
        *checks.check_oidc_settings(),
        *checks.check_middleware(),
        *checks.check_urls(),
    ]


def rp(settings, **overrides):
    settings.IDP_LOGOUT_RP = {**settings.IDP_LOGOUT_RP, **overrides}


def test_a_complete_client_site_is_clean():
    assert all_checks() == []


def test_unknown_setting_names_the_closest_known_one(settings):
    rp(settings, END_SESION_ENDPOINT="https://op.example.com/logout")
    assert checks.check_settings() == [
        Error(
            "Unknown setting IDP_LOGOUT_RP['END_SESION_ENDPOINT'].",
            hint="Did you mean 'END_SESSION_ENDPOINT'?",
            id="idp_logout_rp.E001",
        )
    ]


@pytest.mark.parametrize("issuer", [None, ""])
def test_missing_issuer_is_an_error(settings, issuer):
    rp(settings, ISSUER=issuer)
    assert ids(checks.check_settings()) == ["idp_logout_rp.E002"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"LEEWAY": -1},
        {"LEEWAY": "60"},
        {"JWKS_CACHE_TIMEOUT": 0},
        {"JWKS_TIMEOUT": True},
        {"JWKS_MIN_REFETCH_INTERVAL": None},
        {"INDEX_MAX_AGE": 0},
    ],
)
def test_durations_must_be_seconds(settings, overrides):
    rp(settings, **overrides)
    assert ids(checks.check_settings()) == ["idp_logout_rp.E003"]


@pytest.mark.parametrize("types", ["logout+jwt", [1]])
def test_accepted_token_types_must_be_a_list_of_strings(settings, types):
    rp(settings, ACCEPTED_TOKEN_TYPES=types)
    assert ids(checks.check_settings()) == ["idp_logout_rp.E004"]


def test_missing_client_id_is_an_error(settings):
    del settings.OIDC_RP_CLIENT_ID
    assert ids(checks.check_oidc_settings()) == ["idp_logout_rp.E010"]


@pytest.mark.parametrize("algorithms", [["none"], ["RS256", "XS999"], []])
def test_unsupported_algorithms_are_an_error(settings, algorithms):
    rp(settings, ALGORITHMS=algorithms)
    assert "idp_logout_rp.E011" in ids(checks.check_oidc_settings())


def test_asymmetric_algorithms_need_the_jwks_endpoint(settings):
    del settings.OIDC_OP_JWKS_ENDPOINT
    assert ids(checks.check_oidc_settings()) == ["idp_logout_rp.E012"]


def test_hmac_needs_the_client_secret(settings):
    settings.OIDC_RP_SIGN_ALGO = "HS256"
    settings.OIDC_RP_CLIENT_SECRET = ""
    assert ids(checks.check_oidc_settings()) == ["idp_logout_rp.E013"]


def test_id_token_not_stored_is_a_warning(settings):
    settings.OIDC_STORE_ID_TOKEN = False
    messages = checks.check_oidc_settings()
    assert ids(messages) == ["idp_logout_rp.W010"]
    assert isinstance(messages[0], Warning)


def test_our_logout_url_method_without_end_session_endpoint_is_an_error(settings):
    rp(settings, END_SESSION_ENDPOINT=None)
    assert ids(checks.check_oidc_settings()) == ["idp_logout_rp.E014"]


def test_end_session_endpoint_without_logout_url_method_is_a_warning(settings):
    settings.OIDC_OP_LOGOUT_URL_METHOD = ""
    assert ids(checks.check_oidc_settings()) == ["idp_logout_rp.W015"]


def test_missing_middleware_is_an_error(settings):
    settings.MIDDLEWARE = [m for m in RP_MIDDLEWARE if "RPLogoutMiddleware" not in m]
    assert ids(checks.check_middleware()) == ["idp_logout_rp.E020"]


def test_middleware_before_authentication_is_an_error(settings):
    settings.MIDDLEWARE = [checks.MIDDLEWARE_PATH] + [
        m for m in RP_MIDDLEWARE if "RPLogoutMiddleware" not in m
    ]
    assert ids(checks.check_middleware()) == ["idp_logout_rp.E021"]


def test_session_refresh_must_exempt_the_frontchannel_uri(settings):
    settings.MIDDLEWARE = [*RP_MIDDLEWARE, checks.SESSION_REFRESH_PATH]
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "https://op.example.com/authorize"
    assert ids(checks.check_middleware()) == ["idp_logout_rp.W022"]
    settings.OIDC_EXEMPT_URLS = ["idp_logout_rp:frontchannel_logout"]
    assert checks.check_middleware() == []
    settings.OIDC_EXEMPT_URLS = ["/rp/frontchannel-logout/"]
    assert checks.check_middleware() == []


def test_missing_urls_are_a_warning(settings):
    settings.ROOT_URLCONF = "example_project.urls"
    assert ids(checks.check_urls()) == ["idp_logout_rp.W030"]
