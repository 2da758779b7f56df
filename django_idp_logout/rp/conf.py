"""Settings of the client-site kit: the one place that reads ``settings.IDP_LOGOUT_RP``.

The kit also reads a few of mozilla-django-oidc's own settings (client id, secret, JWKS endpoint,
signing algorithm, TLS and proxy options) so that a site configures its OP once. Values are read
lazily and the cache is dropped on ``setting_changed``, so pytest-django's ``settings`` fixture works.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

SETTINGS_NAME = "IDP_LOGOUT_RP"

DEFAULTS: dict[str, Any] = {
    # The OP's end_session_endpoint (RP-Initiated Logout 1.0); None: provider_logout_url() only
    # signs out locally and redirects to POST_LOGOUT_REDIRECT_URI.
    "END_SESSION_ENDPOINT": None,
    # The OP's issuer, exactly as in its ID tokens: sessions are indexed, and logout tokens and
    # front-channel requests accepted, only for this issuer.
    "ISSUER": None,
    # Where the OP sends the browser after logout (absolute, registered at the OP).
    # None: the site root, built from the request.
    "POST_LOGOUT_REDIRECT_URI": None,
    # Signing algorithms accepted for logout tokens. None: [OIDC_RP_SIGN_ALGO] (the ID token algorithm;
    # the spec signs logout tokens like ID tokens). "none" is never accepted.
    "ALGORITHMS": None,
    # ``typ`` header values accepted in logout tokens besides a missing ``typ`` (compared without case
    # and without an "application/" prefix). Add "JWT" for an OP that types logout tokens as JWT.
    "ACCEPTED_TOKEN_TYPES": ("logout+jwt",),
    # Clock skew tolerated on ``iat``, ``exp`` and ``nbf``, in seconds.
    "LEEWAY": 60,
    # How long the OP's JWKS is cached (Django cache "default"), in seconds.
    "JWKS_CACHE_TIMEOUT": 600,
    # A token whose ``kid`` is not in the cached JWKS triggers one refetch, but not more often than
    # this (seconds): an attacker cannot make us hammer the OP with unknown ``kid`` values.
    "JWKS_MIN_REFETCH_INTERVAL": 30,
    # Timeout of the JWKS request, in seconds.
    "JWKS_TIMEOUT": 5,
    # ``idp_logout_rp_cleanup`` deletes index rows of live sessions older than this many seconds, which
    # signs those sessions out (a session without its index row is refused): an absolute lifetime for
    # OIDC sessions. None: live rows are kept until their session ends.
    "INDEX_MAX_AGE": None,
}

POSITIVE_NUMBER_SETTINGS = ("JWKS_CACHE_TIMEOUT", "JWKS_TIMEOUT")
NON_NEGATIVE_NUMBER_SETTINGS = ("LEEWAY", "JWKS_MIN_REFETCH_INTERVAL")


class RPSettings:
    """Attribute access to ``IDP_LOGOUT_RP`` with defaults; unknown names raise ``AttributeError``."""

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
        if name not in self._cache:
            self._cache[name] = self.user_settings.get(name, DEFAULTS[name])
        return self._cache[name]

    # mozilla-django-oidc's settings, read where they live (never copied into ours).

    @property
    def client_id(self) -> str | None:
        return getattr(settings, "OIDC_RP_CLIENT_ID", None)

    @property
    def client_secret(self) -> str | None:
        return getattr(settings, "OIDC_RP_CLIENT_SECRET", None)

    @property
    def jwks_endpoint(self) -> str | None:
        return getattr(settings, "OIDC_OP_JWKS_ENDPOINT", None)

    @property
    def algorithms(self) -> list[str]:
        configured = self.ALGORITHMS
        if configured is None:
            # mozilla-django-oidc's own default is HS256.
            configured = [getattr(settings, "OIDC_RP_SIGN_ALGO", "HS256")]
        elif isinstance(configured, str):
            configured = [configured]
        return [alg for alg in configured if isinstance(alg, str) and alg.lower() != "none"]

    @property
    def verify_ssl(self) -> bool | str:
        return getattr(settings, "OIDC_VERIFY_SSL", True)

    @property
    def proxies(self) -> dict | None:
        return getattr(settings, "OIDC_PROXY", None)

    @property
    def store_id_token(self) -> bool:
        return bool(getattr(settings, "OIDC_STORE_ID_TOKEN", False))

    def reload(self) -> None:
        self._cache.clear()


rp_settings = RPSettings()


def _reload_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTINGS_NAME:
        rp_settings.reload()


setting_changed.connect(_reload_on_change, dispatch_uid="django_idp_logout.rp.conf.reload")
