"""System checks of the "your sessions" page, its API and the concurrent session limits
(ids django_idp_logout.E200-E219 / W200-W219)."""

from __future__ import annotations

from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string

from .conf import DEFAULTS, SETTINGS_NAME, app_settings
from .services.limits import POLICIES


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@register(Tags.compatibility)
def check_session_settings(app_configs=None, **kwargs):
    user = app_settings.user_settings
    errors = []
    limit = user.get("MAX_SESSIONS_PER_USER", DEFAULTS["MAX_SESSIONS_PER_USER"])
    errors.extend(_check_limit(limit))
    policy = user.get("SESSION_LIMIT_POLICY", DEFAULTS["SESSION_LIMIT_POLICY"])
    if policy not in POLICIES:
        errors.append(
            Error(
                f"{SETTINGS_NAME}['SESSION_LIMIT_POLICY'] is {policy!r}.",
                hint='Use "end_oldest" (end the least recently active sessions) or "deny_new" '
                "(refuse the new login).",
                id="django_idp_logout.E202",
            )
        )
    header = user.get("CLIENT_IP_HEADER", DEFAULTS["CLIENT_IP_HEADER"])
    if header is not None and (not isinstance(header, str) or not header):
        errors.append(
            Error(
                f"{SETTINGS_NAME}['CLIENT_IP_HEADER'] must be None or a request.META key, not {header!r}.",
                hint='e.g. "HTTP_X_FORWARDED_FOR", set only when your own reverse proxy writes that header.',
                id="django_idp_logout.E203",
            )
        )
    elif isinstance(header, str) and (
        not header.startswith("HTTP_") or not header.isupper() or "-" in header
    ):
        errors.append(
            Warning(
                f"{SETTINGS_NAME}['CLIENT_IP_HEADER'] = {header!r} does not look like a request.META key, so "
                "it is never found and REMOTE_ADDR is used.",
                hint="Write the header as Django names it in request.META: X-Forwarded-For is "
                '"HTTP_X_FORWARDED_FOR".',
                id="django_idp_logout.W200",
            )
        )
    proxies = user.get("CLIENT_IP_TRUSTED_PROXIES", DEFAULTS["CLIENT_IP_TRUSTED_PROXIES"])
    if not _positive_int(proxies):
        errors.append(
            Error(
                f"{SETTINGS_NAME}['CLIENT_IP_TRUSTED_PROXIES'] must be a positive number of proxies, not "
                f"{proxies!r}.",
                hint="The number of your own reverse proxies that append to CLIENT_IP_HEADER (usually 1).",
                id="django_idp_logout.E204",
            )
        )
    recent = user.get("REQUIRE_RECENT_LOGIN_FOR_END_OTHERS", DEFAULTS["REQUIRE_RECENT_LOGIN_FOR_END_OTHERS"])
    if recent is not None and not _positive_int(recent):
        errors.append(
            Error(
                f"{SETTINGS_NAME}['REQUIRE_RECENT_LOGIN_FOR_END_OTHERS'] must be None or a positive "
                f"number of seconds, not {recent!r}.",
                id="django_idp_logout.E205",
            )
        )
    if "SESSIONS_API_SCOPE" in user:
        # Only a project that names the scope says it offers the API; by default the API is simply
        # unreachable until the scope exists in OAUTH2_PROVIDER["SCOPES"], and that needs no warning.
        errors.extend(_check_scope(user["SESSIONS_API_SCOPE"]))
    return errors


def _check_limit(limit) -> list:
    if limit is None or _positive_int(limit):
        return []
    if isinstance(limit, str):
        try:
            function = import_string(limit)
        except ImportError as exc:
            return [
                Error(
                    f"{SETTINGS_NAME}['MAX_SESSIONS_PER_USER'] names {limit!r}, which cannot be "
                    f"imported: {exc}.",
                    hint="Give the dotted path of a function f(user) -> int | None.",
                    id="django_idp_logout.E201",
                )
            ]
        if callable(function):
            return []
    return [
        Error(
            f"{SETTINGS_NAME}['MAX_SESSIONS_PER_USER'] must be None, a positive integer or the dotted "
            f"path of a function f(user) -> int | None, not {limit!r}.",
            id="django_idp_logout.E200",
        )
    ]


def _check_scope(scope) -> list:
    if not isinstance(scope, str) or not scope or any(ch.isspace() for ch in scope):
        return [
            Error(
                f"{SETTINGS_NAME}['SESSIONS_API_SCOPE'] must be one scope name without spaces, "
                f"not {scope!r}.",
                id="django_idp_logout.E206",
            )
        ]
    from oauth2_provider.scopes import SettingsScopes
    from oauth2_provider.settings import oauth2_settings

    if issubclass(oauth2_settings.SCOPES_BACKEND_CLASS, SettingsScopes) and scope not in (
        oauth2_settings.SCOPES or {}
    ):
        return [
            Warning(
                f"The sessions API scope {scope!r} is not in OAUTH2_PROVIDER['SCOPES']: no client can "
                "obtain a token for the sessions API.",
                hint=f'Add "{scope}" to OAUTH2_PROVIDER["SCOPES"] (with a description users understand), or '
                "silence this check if you do not offer the API.",
                id="django_idp_logout.W201",
            )
        ]
    return []
