"""System checks: every misconfiguration we can detect names its fix (ids django_idp_logout.E0xx/W0xx)."""

from __future__ import annotations

import difflib
import string

from django.core.checks import Error, Tags, Warning, register
from django.urls import NoReverseMatch, resolve, reverse

from .conf import DEFAULTS, SETTINGS_NAME, app_settings

POSITIVE_INT_SETTINGS = (
    "LOGOUT_ID_MAX_AGE",
    "SESSION_ACTIVITY_RESOLUTION",
    "FRONTCHANNEL_TIMEOUT",
    "BACKCHANNEL_THREADS",
    "BACKCHANNEL_TIMEOUT",
    "BACKCHANNEL_MAX_ATTEMPTS",
    "BACKCHANNEL_RETRY_DELAY",
    "LOGOUT_TOKEN_LIFETIME",
)
OPTIONAL_POSITIVE_INT_SETTINGS = ("SESSION_IDLE_TIMEOUT", "SESSION_ABSOLUTE_TIMEOUT")
BOOLEAN_SETTINGS = (
    "SHOW_LOGOUT_PROMPT",
    "AUTOMATIC_REDIRECT_AFTER_SIGN_OUT",
    "KEEP_OFFLINE_ACCESS_TOKENS",
    "REVOKE_UNBOUND_TOKENS",
    "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES",
    "LOGOUT_TOKEN_INCLUDE_REASON",
    "EXPIRED_SESSIONS_TRIGGER_BACKCHANNEL_LOGOUT",
)
# None: follow DOT's OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS (conf.coordinate_default).
OPTIONAL_BOOLEAN_SETTINGS = ("COORDINATE_LIFETIME_WITH_USER_SESSION",)
MIDDLEWARE_PATH = "django_idp_logout.middleware.UserSessionMiddleware"
AUTH_MIDDLEWARE_PATH = "django.contrib.auth.middleware.AuthenticationMiddleware"


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    errors = []
    for key in app_settings.unknown_keys():
        close = difflib.get_close_matches(key, DEFAULTS, n=1)
        errors.append(
            Error(
                f"Unknown setting {SETTINGS_NAME}[{key!r}].",
                hint=f"Did you mean {close[0]!r}?" if close else f"Known settings: {', '.join(DEFAULTS)}.",
                id="django_idp_logout.E001",
            )
        )
    user = app_settings.user_settings
    for key in POSITIVE_INT_SETTINGS:
        value = user.get(key, DEFAULTS[key])
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            errors.append(
                Error(
                    f"{SETTINGS_NAME}[{key!r}] must be a positive number of seconds, not {value!r}.",
                    id="django_idp_logout.E002",
                )
            )
    for key in OPTIONAL_POSITIVE_INT_SETTINGS:
        value = user.get(key, DEFAULTS[key])
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            errors.append(
                Error(
                    f"{SETTINGS_NAME}[{key!r}] must be None or a positive number of seconds, not {value!r}.",
                    id="django_idp_logout.E002",
                )
            )
    for key in BOOLEAN_SETTINGS + OPTIONAL_BOOLEAN_SETTINGS:
        value = user.get(key, DEFAULTS[key])
        if not isinstance(value, bool) and not (key in OPTIONAL_BOOLEAN_SETTINGS and value is None):
            errors.append(
                Error(
                    f"{SETTINGS_NAME}[{key!r}] must be True or False"
                    f"{' (or None)' if key in OPTIONAL_BOOLEAN_SETTINGS else ''}, not {value!r}.",
                    id="django_idp_logout.E003",
                )
            )
    errors.extend(_check_delivery(user.get("BACKCHANNEL_DELIVERY", DEFAULTS["BACKCHANNEL_DELIVERY"])))
    errors.extend(_check_worker_limits(user))
    return errors


WORKER_LIMIT_SETTINGS = (
    "BACKCHANNEL_CONCURRENCY",
    "BACKCHANNEL_CONCURRENCY_PER_CLIENT",
    "BACKCHANNEL_CLAIM_BATCH",
    "BACKCHANNEL_CIRCUIT_FAILURES",
    "BACKCHANNEL_CIRCUIT_PAUSE",
)


def _check_worker_limits(user) -> list:
    """The delivery worker's limits (docs/operations.md, sizing)."""
    errors = []
    values = {key: user.get(key, DEFAULTS[key]) for key in WORKER_LIMIT_SETTINGS}
    for key, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            errors.append(
                Error(
                    f"{SETTINGS_NAME}[{key!r}] must be a positive whole number, not {value!r}.",
                    hint=f"Remove it to use the default ({DEFAULTS[key]}).",
                    id="django_idp_logout.E420",
                )
            )
    poll = user.get("BACKCHANNEL_WORKER_POLL_INTERVAL", DEFAULTS["BACKCHANNEL_WORKER_POLL_INTERVAL"])
    if not isinstance(poll, int | float) or isinstance(poll, bool) or poll <= 0:
        errors.append(
            Error(
                f"{SETTINGS_NAME}['BACKCHANNEL_WORKER_POLL_INTERVAL'] must be a positive number of seconds, "
                f"not {poll!r}.",
                hint="E.g. 0.25: how soon a worker sees a new logout when nothing else is due.",
                id="django_idp_logout.E421",
            )
        )
    if errors:
        return errors
    if values["BACKCHANNEL_CONCURRENCY_PER_CLIENT"] > values["BACKCHANNEL_CONCURRENCY"]:
        errors.append(
            Warning(
                f"{SETTINGS_NAME}['BACKCHANNEL_CONCURRENCY_PER_CLIENT'] is larger than "
                "BACKCHANNEL_CONCURRENCY: one slow client can take every sender.",
                hint="Keep the per-client limit below the global one (e.g. a quarter of it).",
                id="django_idp_logout.W420",
            )
        )
    return errors


def _check_delivery(mode):
    from .delivery import STRATEGIES

    if mode not in STRATEGIES:
        return [
            Error(
                f"{SETTINGS_NAME}['BACKCHANNEL_DELIVERY'] must be one of {', '.join(STRATEGIES)}, "
                f"not {mode!r}.",
                id="django_idp_logout.E004",
            )
        ]
    if mode == "celery":
        try:
            import celery  # noqa: F401
        except ImportError:
            return [
                Error(
                    "BACKCHANNEL_DELIVERY is 'celery' but Celery is not installed.",
                    hint="pip install 'django-idp-logout[celery]', or use 'thread'.",
                    id="django_idp_logout.E005",
                )
            ]
    return []


@register(Tags.security, deploy=True)
def check_deploy(app_configs=None, **kwargs):
    if app_settings.BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES:
        return [
            Warning(
                "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES is on: back-channel logout may POST to internal "
                "addresses (SSRF).",
                hint="Turn it off in production unless every client's back-channel URI is trusted.",
                id="django_idp_logout.W030",
            )
        ]
    return []


@register(Tags.security)
def check_middleware(app_configs=None, **kwargs):
    from django.conf import settings

    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE_PATH not in middleware:
        return [
            Error(
                "UserSessionMiddleware is not installed: a session ended from the admin, by expiry or by "
                "the API stays signed in in its browser.",
                hint=f'Add "{MIDDLEWARE_PATH}" to MIDDLEWARE, after AuthenticationMiddleware.',
                id="django_idp_logout.E016",
            )
        ]
    if AUTH_MIDDLEWARE_PATH in middleware and middleware.index(MIDDLEWARE_PATH) < middleware.index(
        AUTH_MIDDLEWARE_PATH
    ):
        return [
            Error(
                "UserSessionMiddleware runs before AuthenticationMiddleware and cannot see the user.",
                hint=f'Move "{MIDDLEWARE_PATH}" after "{AUTH_MIDDLEWARE_PATH}".',
                id="django_idp_logout.E017",
            )
        ]
    return []


@register(Tags.security)
def check_oidc_provider(app_configs=None, **kwargs):
    from oauth2_provider.settings import oauth2_settings

    errors = []
    if not oauth2_settings.OIDC_ENABLED:
        errors.append(
            Error(
                "OpenID Connect is disabled in django-oauth-toolkit.",
                hint='Set OAUTH2_PROVIDER["OIDC_ENABLED"] = True: logout needs ID tokens.',
                id="django_idp_logout.E010",
            )
        )
    if not oauth2_settings.OIDC_RSA_PRIVATE_KEY:
        errors.append(
            Warning(
                "No OIDC_RSA_PRIVATE_KEY is configured: only HS256 clients can be served, and their "
                "id_token_hints are the only ones the end session endpoint can verify.",
                hint='Set OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"] to a PEM RSA private key.',
                id="django_idp_logout.W011",
            )
        )
    if not oauth2_settings.OIDC_RP_INITIATED_LOGOUT_ENABLED:
        errors.append(
            Error(
                "RP-initiated logout is disabled in django-oauth-toolkit, so discovery does not "
                "advertise the end session endpoint.",
                hint='Set OAUTH2_PROVIDER["OIDC_RP_INITIATED_LOGOUT_ENABLED"] = True.',
                id="django_idp_logout.E012",
            )
        )
    if not oauth2_settings.OIDC_ISS_ENDPOINT:
        errors.append(
            Warning(
                "OIDC_ISS_ENDPOINT is not set: the issuer is then derived from each request's Host header.",
                hint='Set OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"] to the issuer URL (e.g. "https://id.example.com/o").',
                id="django_idp_logout.W013",
            )
        )
    errors.extend(_check_dot_classes(oauth2_settings))
    return errors


def _check_dot_classes(oauth2_settings):
    from .oauth.backend import IdpLogoutBackendMixin
    from .oauth.validator import IdpLogoutValidatorMixin

    errors = []
    pairs = (
        (
            "OAUTH2_VALIDATOR_CLASS",
            IdpLogoutValidatorMixin,
            "django_idp_logout.oauth.validator.IdpLogoutOAuth2Validator",
        ),
        (
            "OAUTH2_BACKEND_CLASS",
            IdpLogoutBackendMixin,
            "django_idp_logout.oauth.backend.IdpLogoutOAuthLibCore",
        ),
    )
    for name, mixin, ready_made in pairs:
        configured = getattr(oauth2_settings, name)
        if not (isinstance(configured, type) and issubclass(configured, mixin)):
            errors.append(
                Error(
                    f'OAUTH2_PROVIDER["{name}"] does not include {mixin.__name__}.',
                    hint=f'Use "{ready_made}", or add {mixin.__name__} to the bases of your own class.',
                    id="django_idp_logout.E014"
                    if name == "OAUTH2_VALIDATOR_CLASS"
                    else "django_idp_logout.E015",
                )
            )
    return errors + _check_shadowed_lookups(oauth2_settings.OAUTH2_VALIDATOR_CLASS)


def _check_shadowed_lookups(validator_class) -> list:
    """The read-once look-ups answer DOT's grant methods without calling ``super()``: a project's own
    override of one of them placed *after* our mixin in the bases would never run."""
    from oauth2_provider.oauth2_validators import OAuth2Validator

    from .oauth.lookups import READ_ONCE_METHODS, ReadOnceValidatorMixin

    if not (isinstance(validator_class, type) and issubclass(validator_class, ReadOnceValidatorMixin)):
        return []
    mro = validator_class.__mro__
    after_ours = mro[mro.index(ReadOnceValidatorMixin) + 1 :]
    dot_own = set(OAuth2Validator.__mro__)
    shadowed = sorted(
        f"{cls.__qualname__}.{name}"
        for cls in after_ours
        if cls not in dot_own
        for name in READ_ONCE_METHODS
        if name in vars(cls)
    )
    if not shadowed:
        return []
    return [
        Warning(
            f"These validator methods never run: {', '.join(shadowed)}. The read-once look-ups of "
            "IdpLogoutValidatorMixin answer them first.",
            hint="Put your class before IdpLogoutValidatorMixin in the bases (class MyValidator("
            "MyOverrides, IdpLogoutValidatorMixin, OAuth2Validator)), or subclass "
            "IdpLogoutOAuth2Validator and call super().",
            id="django_idp_logout.W018",
        )
    ]


SESSION_REFRESH_PATH = "mozilla_django_oidc.middleware.SessionRefresh"
EXEMPT_URL_NAMES = (
    "idp_logout:end_session",
    "idp_logout:logout",
    "idp_logout:logged_out",
    "idp_logout:external_logout_callback",
    "idp_logout:upstream_frontchannel_logout",
)


@register(Tags.compatibility)
def check_external_logout(app_configs=None, **kwargs):
    """mozilla-django-oidc: the ID token must be stored for upstream logout, and SessionRefresh must not
    bounce our logout pages to the upstream provider with prompt=none."""
    from django.conf import settings

    backends = list(getattr(settings, "AUTHENTICATION_BACKENDS", []))
    from .services.external import is_upstream_backend

    if not any(is_upstream_backend(path) for path in backends):
        return []
    errors = []
    if not getattr(settings, "OIDC_STORE_ID_TOKEN", False):
        errors.append(
            Warning(
                "OIDC_STORE_ID_TOKEN is off: users who signed in through the upstream provider cannot be "
                "signed out there (no id_token_hint).",
                hint="Set OIDC_STORE_ID_TOKEN = True.",
                id="django_idp_logout.W040",
            )
        )
    if not (app_settings.UPSTREAM_END_SESSION_ENDPOINT or app_settings.UPSTREAM_DISCOVERY_URL):
        errors.append(
            Warning(
                "No upstream end session endpoint: logout ends the session here only.",
                hint='Set IDP_LOGOUT["UPSTREAM_END_SESSION_ENDPOINT"] or ["UPSTREAM_DISCOVERY_URL"].',
                id="django_idp_logout.W041",
            )
        )
    if not app_settings.UPSTREAM_ISSUER:
        errors.append(
            Warning(
                "UPSTREAM_ISSUER is not set: logout notifications from the upstream provider are refused.",
                hint='Set IDP_LOGOUT["UPSTREAM_ISSUER"] to the upstream provider\'s issuer.',
                id="django_idp_logout.W043",
            )
        )
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    exempt = set(getattr(settings, "OIDC_EXEMPT_URLS", []))
    missing = [name for name in EXEMPT_URL_NAMES if name not in exempt]
    if SESSION_REFRESH_PATH in middleware and missing:
        errors.append(
            Error(
                "mozilla-django-oidc's SessionRefresh would redirect our logout pages to the upstream "
                f"provider: {', '.join(missing)} are not in OIDC_EXEMPT_URLS.",
                hint="OIDC_EXEMPT_URLS += [" + ", ".join(repr(n) for n in missing) + "]",
                id="django_idp_logout.E042",
            )
        )
    return errors


@register(Tags.urls)
def check_urls(app_configs=None, **kwargs):
    from .oauth.discovery import IdpLogoutDiscoveryView

    errors = []
    try:
        reverse("idp_logout:end_session")
    except NoReverseMatch:
        errors.append(
            Error(
                "The idp_logout URLs are not installed.",
                hint='Add path("", include("django_idp_logout.urls")) to your root URLconf.',
                id="django_idp_logout.E020",
            )
        )
    try:
        discovery = resolve(reverse("oauth2_provider:oidc-connect-discovery-info"))
    except NoReverseMatch:
        return errors
    view_class = getattr(discovery.func, "view_class", None)
    if not (isinstance(view_class, type) and issubclass(view_class, IdpLogoutDiscoveryView)):
        errors.append(
            Error(
                "The discovery document is served by DOT's own view, so it advertises DOT's end session "
                "endpoint instead of ours.",
                hint='Include "django_idp_logout.oauth.urls" instead of "oauth2_provider.urls".',
                id="django_idp_logout.E021",
            )
        )
    return errors


@register(Tags.compatibility)
def check_cleanup_retention(app_configs=None, **kwargs):
    value = app_settings.user_settings.get("CLEANUP_RETENTION_DAYS", DEFAULTS["CLEANUP_RETENTION_DAYS"])
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return [
            Error(
                f"{SETTINGS_NAME}['CLEANUP_RETENTION_DAYS'] must be a number of days (0 or more), "
                f"not {value!r}.",
                hint="Set it to how long ended sessions must stay for audits, e.g. 30.",
                id="django_idp_logout.E400",
            )
        ]
    return []


@register(Tags.compatibility)
def check_dot_logout_settings(app_configs=None, **kwargs):
    """DOT's own ``OIDC_RP_INITIATED_LOGOUT_*`` settings keep their meaning (docs/adopting.md); where a
    project's settings contradict each other, or DOT's logout view would still run, say so."""
    from .conf import dot_setting_if_set

    errors = []
    delete_tokens = dot_setting_if_set("OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS")
    coordinate = app_settings.user_settings.get("COORDINATE_LIFETIME_WITH_USER_SESSION")
    if delete_tokens is not None and coordinate is not None and bool(delete_tokens) != bool(coordinate):
        errors.append(
            Warning(
                f'OAUTH2_PROVIDER["OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS"] is {delete_tokens!r} but '
                f'{SETTINGS_NAME}["COORDINATE_LIFETIME_WITH_USER_SESSION"] is {coordinate!r}: the latter '
                "decides whether a logout revokes tokens, DOT's setting has no effect.",
                hint=f'Remove one of them (unset, {SETTINGS_NAME}["COORDINATE_LIFETIME_WITH_USER_SESSION"] '
                "follows DOT's setting), or make them agree.",
                id="django_idp_logout.W100",
            )
        )
    if (
        dot_setting_if_set("OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT") is True
        and not app_settings.SHOW_LOGOUT_PROMPT
    ):
        errors.append(
            Warning(
                f'{SETTINGS_NAME}["SHOW_LOGOUT_PROMPT"] is False but OAUTH2_PROVIDER['
                '"OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT"] is True: the prompt is shown every time.',
                hint="Remove OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT to sign out without a prompt, or "
                "SHOW_LOGOUT_PROMPT to keep the prompt.",
                id="django_idp_logout.W101",
            )
        )
    errors.extend(_check_dot_logout_view())
    return errors


def _check_dot_logout_view() -> list:
    """DOT's ``RPInitiatedLogoutView`` deletes every token of the user one by one (ignoring per-client
    coordination) before our receiver ends the session: it must not be reachable."""
    from oauth2_provider.views import RPInitiatedLogoutView

    if not _served_by("oauth2_provider:rp-initiated-logout", RPInitiatedLogoutView):
        return []
    return [
        Error(
            "DOT's own RPInitiatedLogoutView is still served: it deletes tokens itself, ignoring the "
            "per-client coordinate settings, and skips the logout_id, front- and back-channel logout.",
            hint='Include "django_idp_logout.oauth.urls" instead of "oauth2_provider.urls" (it serves '
            "our end session endpoint under the same URL name).",
            id="django_idp_logout.E100",
        )
    ]


def _served_by(url_name: str, view_class: type, **kwargs) -> bool | None:
    """Whether ``url_name`` resolves to ``view_class`` (or a subclass); None when it is not installed."""
    try:
        match = resolve(reverse(url_name, kwargs=kwargs))
    except NoReverseMatch:
        return None
    served = getattr(match.func, "view_class", None)
    return isinstance(served, type) and issubclass(served, view_class)


@register(Tags.urls)
def check_dot_registration_and_devices(app_configs=None, **kwargs):
    """DOT features that carry logout state: Dynamic Client Registration, Client ID Metadata Documents
    and the device authorization grant (docs/registration.md, docs/sessions.md)."""
    from oauth2_provider.settings import oauth2_settings

    from .oauth.cimd import IdpLogoutFetcherMixin
    from .oauth.device import IdpLogoutDeviceConfirmView
    from .oauth.registration import IdpLogoutRegistrationManagementView, IdpLogoutRegistrationView

    errors = []
    if oauth2_settings.DCR_ENABLED and (
        _served_by("oauth2_provider:dcr-register", IdpLogoutRegistrationView) is False
        or _served_by(
            "oauth2_provider:dcr-register-management", IdpLogoutRegistrationManagementView, client_id="x"
        )
        is False
    ):
        errors.append(
            Error(
                "Dynamic Client Registration is served by DOT's own views, which drop the logout metadata "
                "(post_logout_redirect_uris, front- and back-channel logout URIs) and set no ID token "
                "algorithm.",
                hint='Include "django_idp_logout.oauth.urls" instead of "oauth2_provider.urls".',
                id="django_idp_logout.E120",
            )
        )
    if (
        _served_by("oauth2_provider:device-confirm", IdpLogoutDeviceConfirmView, client_id="x", user_code="x")
        is False
    ):
        errors.append(
            Error(
                "The device-confirm page is DOT's own view: tokens issued to devices are bound to no "
                "session, so logout neither revokes them nor notifies the device's client.",
                hint='Include "django_idp_logout.oauth.urls" instead of "oauth2_provider.urls".',
                id="django_idp_logout.E121",
            )
        )
    fetcher = oauth2_settings.CIMD_METADATA_FETCHER
    if oauth2_settings.CIMD_ENABLED and not (
        isinstance(fetcher, type) and issubclass(fetcher, IdpLogoutFetcherMixin)
    ):
        errors.append(
            Warning(
                "Client ID Metadata Documents are enabled, but the logout metadata in them "
                "(post_logout_redirect_uris, frontchannel_logout_uri, backchannel_logout_uri and their "
                "session_required flags) is not honoured: CIMD_METADATA_FETCHER does not include "
                "IdpLogoutFetcherMixin, and DOT maps only redirect_uris, client_name and grant_types.",
                hint='Set OAUTH2_PROVIDER["CIMD_METADATA_FETCHER"] = '
                '"django_idp_logout.oauth.cimd.IdpLogoutMetadataFetcher" (or put IdpLogoutFetcherMixin '
                "first in your own fetcher's bases).",
                id="django_idp_logout.W120",
            )
        )
    return errors


_COOKIE_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")  # RFC 6265 token


@register(Tags.compatibility)
def check_session_management(app_configs=None, **kwargs):
    """OpenID Connect Session Management 1.0 settings (ids E300-E319 / W300-W319)."""
    from django.conf import settings

    errors = []
    user = app_settings.user_settings
    enabled = user.get("CHECK_SESSION_IFRAME_ENABLED", DEFAULTS["CHECK_SESSION_IFRAME_ENABLED"])
    if not isinstance(enabled, bool):
        errors.append(
            Error(
                f"{SETTINGS_NAME}['CHECK_SESSION_IFRAME_ENABLED'] must be True or False, not {enabled!r}.",
                id="django_idp_logout.E300",
            )
        )
    name = user.get("BROWSER_STATE_COOKIE_NAME", DEFAULTS["BROWSER_STATE_COOKIE_NAME"])
    if not isinstance(name, str) or not name or not set(name) <= _COOKIE_NAME_CHARS:
        errors.append(
            Error(
                f"{SETTINGS_NAME}['BROWSER_STATE_COOKIE_NAME'] must be a cookie name (letters, digits and "
                f"!#$%&'*+-.^_`|~), not {name!r}.",
                id="django_idp_logout.E301",
            )
        )
    elif name in {settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, settings.LANGUAGE_COOKIE_NAME}:
        errors.append(
            Error(
                f"{SETTINGS_NAME}['BROWSER_STATE_COOKIE_NAME'] is {name!r}, the name of one of Django's own "
                "cookies: the browser-state cookie would overwrite it.",
                hint="Choose another name, e.g. the default 'idp_logout_browser_state'.",
                id="django_idp_logout.E302",
            )
        )
    max_age = user.get("CHECK_SESSION_IFRAME_MAX_AGE", DEFAULTS["CHECK_SESSION_IFRAME_MAX_AGE"])
    if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0:
        errors.append(
            Error(
                f"{SETTINGS_NAME}['CHECK_SESSION_IFRAME_MAX_AGE'] must be a number of seconds (0: not "
                f"cached), not {max_age!r}.",
                id="django_idp_logout.E303",
            )
        )
    return errors
