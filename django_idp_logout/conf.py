"""Settings of django-idp-logout: the one place that reads ``settings.IDP_LOGOUT``.

Every key has a default in ``DEFAULTS`` (documented in the same order in docs/settings.md).
Values are read lazily and the cache is dropped on ``setting_changed``, so tests can use
pytest-django's ``settings`` fixture directly.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

SETTINGS_NAME = "IDP_LOGOUT"

DEFAULTS: dict[str, Any] = {
    # Prompt and pages
    "SHOW_LOGOUT_PROMPT": True,
    "AUTOMATIC_REDIRECT_AFTER_SIGN_OUT": True,
    "LOGOUT_ID_MAX_AGE": 600,
    # Server-side sessions and coordinated token lifetimes
    # None (unset): follow DOT's OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS (DOT's default True), so a project
    # that adopts the app never stops a logout from revoking; see ``coordinate_default``.
    "COORDINATE_LIFETIME_WITH_USER_SESSION": None,
    "KEEP_OFFLINE_ACCESS_TOKENS": False,
    # Revoke tokens from before the app (bound to no session) with any session of their user
    # (docs/adopting.md); False once idp_logout_unbound_tokens reports none saves a statement per logout.
    "REVOKE_UNBOUND_TOKENS": True,
    "SESSION_IDLE_TIMEOUT": None,
    "SESSION_ABSOLUTE_TIMEOUT": None,
    "SESSION_ACTIVITY_RESOLUTION": 60,
    # What a session records to be recognised, the "your sessions" page and API (docs/sessions.md)
    "CLIENT_IP_HEADER": None,
    "CLIENT_IP_TRUSTED_PROXIES": 1,
    "REQUIRE_RECENT_LOGIN_FOR_END_OTHERS": None,
    "SESSIONS_API_SCOPE": "sessions",
    # Concurrent session limits (docs/sessions.md)
    "MAX_SESSIONS_PER_USER": None,
    "SESSION_LIMIT_POLICY": "end_oldest",
    # Front-channel logout
    "FRONTCHANNEL_TIMEOUT": 4,
    # Back-channel logout
    "BACKCHANNEL_DELIVERY": "thread",
    "BACKCHANNEL_THREADS": 16,
    "BACKCHANNEL_TIMEOUT": 5,
    "BACKCHANNEL_MAX_ATTEMPTS": 5,
    "BACKCHANNEL_RETRY_DELAY": 10,
    "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": False,
    "LOGOUT_TOKEN_LIFETIME": 120,
    "LOGOUT_TOKEN_INCLUDE_REASON": True,
    "EXPIRED_SESSIONS_TRIGGER_BACKCHANNEL_LOGOUT": True,
    # Back-channel delivery worker (non-blocking HTTP, limits, circuit breaker)
    "BACKCHANNEL_CONCURRENCY": 400,
    "BACKCHANNEL_CONCURRENCY_PER_CLIENT": 100,
    "BACKCHANNEL_CLAIM_BATCH": 200,
    "BACKCHANNEL_CIRCUIT_FAILURES": 5,
    "BACKCHANNEL_CIRCUIT_PAUSE": 30,
    "BACKCHANNEL_WORKER_POLL_INTERVAL": 0.25,
    # Upstream (external) logout through mozilla-django-oidc
    "UPSTREAM_END_SESSION_ENDPOINT": None,
    "UPSTREAM_DISCOVERY_URL": None,
    "UPSTREAM_ISSUER": None,
    # OpenID Connect Session Management 1.0 (check_session_iframe, session_state)
    "CHECK_SESSION_IFRAME_ENABLED": True,
    "BROWSER_STATE_COOKIE_NAME": "idp_logout_browser_state",
    "CHECK_SESSION_IFRAME_MAX_AGE": 300,
    # Housekeeping (idp_logout_cleanup)
    "CLEANUP_RETENTION_DAYS": 30,
}


class IdpLogoutSettings:
    """Attribute access to ``IDP_LOGOUT`` with defaults; unknown names raise ``AttributeError``."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        return getattr(settings, SETTINGS_NAME, None) or {}

    def unknown_keys(self) -> list[str]:
        return sorted(set(self.user_settings) - set(DEFAULTS))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in DEFAULTS:
            raise AttributeError(f"Unknown {SETTINGS_NAME} setting: {name!r}")
        if name in self._cache:
            return self._cache[name]
        value = self.user_settings.get(name, DEFAULTS[name])
        if name == "COORDINATE_LIFETIME_WITH_USER_SESSION" and value is None:
            value = coordinate_default()
        self._cache[name] = value
        return value

    def reload(self) -> None:
        self._cache.clear()


app_settings = IdpLogoutSettings()


def coordinate_default() -> bool:
    """The global coordinate default when ``IDP_LOGOUT`` leaves it unset: DOT's
    ``OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS`` (True unless the project turned it off). DOT's own logout
    deletes the user's tokens by default; adopting the app must not silently stop that."""
    from oauth2_provider.settings import oauth2_settings

    return bool(oauth2_settings.OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS)


def dot_setting_if_set(name: str) -> Any:
    """``OAUTH2_PROVIDER[name]`` when the project set it, else None (DOT's default does not count)."""
    return (getattr(settings, "OAUTH2_PROVIDER", None) or {}).get(name)


def dot_always_prompt() -> bool:
    """DOT's ``OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT`` set explicitly to True: the prompt is never
    skipped. Left unset, DOT's implicit True does not cancel the validated skip (Duende's model)."""
    return dot_setting_if_set("OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT") is True


def _reload_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTINGS_NAME, "OAUTH2_PROVIDER"):
        app_settings.reload()


setting_changed.connect(_reload_on_change, dispatch_uid="django_idp_logout.conf.reload")
