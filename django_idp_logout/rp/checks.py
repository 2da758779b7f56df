"""System checks of the client-site kit (ids ``idp_logout_rp.E0xx`` / ``W0xx``): each names its fix."""

from __future__ import annotations

import difflib

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.urls import NoReverseMatch, reverse

from .conf import DEFAULTS, NON_NEGATIVE_NUMBER_SETTINGS, POSITIVE_NUMBER_SETTINGS, SETTINGS_NAME, rp_settings
from .jwks import required_kty

MIDDLEWARE_PATH = "django_idp_logout.rp.middleware.RPLogoutMiddleware"
AUTH_MIDDLEWARE_PATH = "django.contrib.auth.middleware.AuthenticationMiddleware"
SESSION_REFRESH_PATH = "mozilla_django_oidc.middleware.SessionRefresh"
LOGOUT_URL_METHOD = "django_idp_logout.rp.provider_logout_url"
SUPPORTED_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    "HS256", "HS384", "HS512",
)  # fmt: skip


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    errors = []
    user = rp_settings.user_settings
    if not isinstance(user, dict):
        return [Error(f"{SETTINGS_NAME} must be a dict.", id="idp_logout_rp.E001")]
    for key in rp_settings.unknown_keys():
        close = difflib.get_close_matches(key, DEFAULTS, n=1)
        errors.append(
            Error(
                f"Unknown setting {SETTINGS_NAME}[{key!r}].",
                hint=f"Did you mean {close[0]!r}?" if close else f"Known settings: {', '.join(DEFAULTS)}.",
                id="idp_logout_rp.E001",
            )
        )
    if not isinstance(user.get("ISSUER"), str) or not user.get("ISSUER"):
        errors.append(
            Error(
                f"{SETTINGS_NAME}['ISSUER'] is not set: no logout token or front-channel request can be "
                "accepted, and no session is indexed.",
                hint="Set it to the OP's issuer, exactly as in its ID tokens' iss claim.",
                id="idp_logout_rp.E002",
            )
        )
    for key in POSITIVE_NUMBER_SETTINGS:
        value = user.get(key, DEFAULTS[key])
        if not _is_number(value) or value <= 0:
            errors.append(
                Error(
                    f"{SETTINGS_NAME}[{key!r}] must be a positive number of seconds, not {value!r}.",
                    id="idp_logout_rp.E003",
                )
            )
    for key in NON_NEGATIVE_NUMBER_SETTINGS:
        value = user.get(key, DEFAULTS[key])
        if not _is_number(value) or value < 0:
            errors.append(
                Error(
                    f"{SETTINGS_NAME}[{key!r}] must be a number of seconds (0 or more), not {value!r}.",
                    id="idp_logout_rp.E003",
                )
            )
    max_age = user.get("INDEX_MAX_AGE")
    if max_age is not None and (not _is_number(max_age) or max_age <= 0):
        errors.append(
            Error(
                f"{SETTINGS_NAME}['INDEX_MAX_AGE'] must be None or a positive number of seconds, "
                f"not {max_age!r}.",
                id="idp_logout_rp.E003",
            )
        )
    types = user.get("ACCEPTED_TOKEN_TYPES", DEFAULTS["ACCEPTED_TOKEN_TYPES"])
    if isinstance(types, str) or not all(isinstance(t, str) for t in types or ()):
        errors.append(
            Error(
                f"{SETTINGS_NAME}['ACCEPTED_TOKEN_TYPES'] must be a list of strings, not {types!r}.",
                hint='For example ["logout+jwt", "JWT"].',
                id="idp_logout_rp.E004",
            )
        )
    return errors


@register(Tags.security)
def check_oidc_settings(app_configs=None, **kwargs):
    errors = []
    if not rp_settings.client_id:
        errors.append(
            Error(
                "OIDC_RP_CLIENT_ID is not set: logout tokens cannot be checked for their audience.",
                hint="Set mozilla-django-oidc's OIDC_RP_CLIENT_ID.",
                id="idp_logout_rp.E010",
            )
        )
    configured = rp_settings.ALGORITHMS
    if configured is None:
        configured = [getattr(settings, "OIDC_RP_SIGN_ALGO", "HS256")]
    elif isinstance(configured, str):
        configured = [configured]
    bad = [alg for alg in configured if alg not in SUPPORTED_ALGORITHMS]
    if bad or not configured:
        errors.append(
            Error(
                f"Unsupported logout token algorithm(s): {bad or configured!r}.",
                hint=f"Use some of {', '.join(SUPPORTED_ALGORITHMS)} (never 'none').",
                id="idp_logout_rp.E011",
            )
        )
    kinds = {required_kty(alg) for alg in configured if alg in SUPPORTED_ALGORITHMS}
    if kinds - {"oct"} and not rp_settings.jwks_endpoint:
        errors.append(
            Error(
                "OIDC_OP_JWKS_ENDPOINT is not set: signatures of logout tokens cannot be verified.",
                hint="Set mozilla-django-oidc's OIDC_OP_JWKS_ENDPOINT to the OP's jwks_uri.",
                id="idp_logout_rp.E012",
            )
        )
    if "oct" in kinds and not rp_settings.client_secret:
        errors.append(
            Error(
                "An HMAC algorithm is accepted but OIDC_RP_CLIENT_SECRET is not set.",
                hint="Set OIDC_RP_CLIENT_SECRET, or use an asymmetric OIDC_RP_SIGN_ALGO such as RS256.",
                id="idp_logout_rp.E013",
            )
        )
    if not rp_settings.store_id_token:
        errors.append(
            Warning(
                "OIDC_STORE_ID_TOKEN is off: sessions cannot be indexed by the OP's sid and sub, so "
                "logout notifications end nothing, and logout URLs carry no id_token_hint.",
                hint="Set OIDC_STORE_ID_TOKEN = True.",
                id="idp_logout_rp.W010",
            )
        )
    method = getattr(settings, "OIDC_OP_LOGOUT_URL_METHOD", "")
    if method == LOGOUT_URL_METHOD and not rp_settings.END_SESSION_ENDPOINT:
        errors.append(
            Error(
                f"OIDC_OP_LOGOUT_URL_METHOD is {LOGOUT_URL_METHOD!r} but {SETTINGS_NAME}"
                "['END_SESSION_ENDPOINT'] is not set: users are not signed out at the OP.",
                hint="Set it to the OP's end_session_endpoint.",
                id="idp_logout_rp.E014",
            )
        )
    if rp_settings.END_SESSION_ENDPOINT and not method:
        errors.append(
            Warning(
                "END_SESSION_ENDPOINT is set but OIDC_OP_LOGOUT_URL_METHOD is not: logging out of this "
                "site leaves the user signed in at the OP.",
                hint=f'Set OIDC_OP_LOGOUT_URL_METHOD = "{LOGOUT_URL_METHOD}".',
                id="idp_logout_rp.W015",
            )
        )
    return errors


@register(Tags.security)
def check_middleware(app_configs=None, **kwargs):
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    errors = []
    if MIDDLEWARE_PATH not in middleware:
        errors.append(
            Error(
                "RPLogoutMiddleware is not installed: a session the OP logged out stays signed in (always "
                "with signed-cookie sessions; with the other engines if its key changed after login).",
                hint=f'Add "{MIDDLEWARE_PATH}" to MIDDLEWARE, after AuthenticationMiddleware.',
                id="idp_logout_rp.E020",
            )
        )
    elif AUTH_MIDDLEWARE_PATH in middleware and middleware.index(MIDDLEWARE_PATH) < middleware.index(
        AUTH_MIDDLEWARE_PATH
    ):
        errors.append(
            Error(
                "RPLogoutMiddleware runs before AuthenticationMiddleware.",
                hint=f'Move "{MIDDLEWARE_PATH}" after "{AUTH_MIDDLEWARE_PATH}".',
                id="idp_logout_rp.E021",
            )
        )
    if SESSION_REFRESH_PATH in middleware:
        exempt = set(getattr(settings, "OIDC_EXEMPT_URLS", None) or ())
        name = "idp_logout_rp:frontchannel_logout"
        try:
            path = reverse(name)
        except NoReverseMatch:
            path = None
        if name not in exempt and path not in exempt:
            errors.append(
                Warning(
                    "mozilla-django-oidc's SessionRefresh may redirect the front-channel logout request "
                    "to the OP instead of letting it sign the user out.",
                    hint=f'Add "{name}" to OIDC_EXEMPT_URLS.',
                    id="idp_logout_rp.W022",
                )
            )
    return errors


@register(Tags.urls)
def check_urls(app_configs=None, **kwargs):
    try:
        reverse("idp_logout_rp:backchannel_logout")
    except NoReverseMatch:
        return [
            Warning(
                "The idp_logout_rp URLs are not installed: the OP cannot notify this site of logouts.",
                hint='Add path("oidc/", include("django_idp_logout.rp.urls")) to your root URLconf.',
                id="idp_logout_rp.W030",
            )
        ]
    return []
