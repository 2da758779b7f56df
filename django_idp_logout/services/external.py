"""External logout: users who signed in through an upstream OpenID provider (mozilla-django-oidc).

Outbound (Duende's "external logout"): after our own session ended (tokens revoked, notifications
queued), the browser goes to the upstream end session endpoint with the upstream ``id_token_hint``, our
``external_logout_callback`` as ``post_logout_redirect_uri`` and a signed, expiring ``state`` carrying
the logged-out page's id; the callback validates it and shows our logged-out page. Whatever is missing
(no endpoint, no stored ID token, a bad ``state``), the logout finishes locally: never a 500, never a loop.

What the return trip needs (upstream issuer, ID token, its ``sid``/``sub``) is captured at login,
because ``auth.logout()`` flushes the session that mozilla-django-oidc keeps it in.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import requests
from django.core import signing
from django.core.cache import cache
from django.utils.module_loading import import_string

from .. import untrusted
from ..conf import app_settings
from ..models import UserSession

STATE_SALT = "django_idp_logout.external_state"
ID_TOKEN_SESSION_KEY = "oidc_id_token"  # where mozilla-django-oidc keeps it (OIDC_STORE_ID_TOKEN = True)
DISCOVERY_CACHE_SECONDS = 3600


class InvalidState(Exception):
    """The callback's ``state`` is missing, tampered or expired."""


def is_upstream_backend(backend_path: str | None) -> bool:
    """True when the session was authenticated by mozilla-django-oidc's backend or a subclass."""
    if not backend_path:
        return False
    try:
        from mozilla_django_oidc.auth import OIDCAuthenticationBackend
    except ImportError:
        return False
    try:
        backend = import_string(backend_path)
    except ImportError:
        return False
    return isinstance(backend, type) and issubclass(backend, OIDCAuthenticationBackend)


def unverified_claims(id_token: str) -> dict:
    """The payload of an ID token that mozilla-django-oidc already verified at login."""
    try:
        payload = id_token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def record_upstream_login(user_session: UserSession, *, id_token: str | None) -> None:
    """Keep the upstream issuer, ``sid``, ``sub`` and ID token on the session (re-login refreshes them)."""
    claims = unverified_claims(id_token) if id_token else {}

    # Signed by the upstream, so a key holder's choice: values that are not clean text are dropped.
    def clean(name: str, max_length: int) -> str:
        value = claims.get(name)
        value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        return "" if untrusted.problem(value, max_length=max_length) else value

    fields = {
        "upstream_issuer": clean("iss", 512) or app_settings.UPSTREAM_ISSUER or "",
        "upstream_sid": clean("sid", 255),
        "upstream_sub": clean("sub", 255),
        "upstream_id_token": id_token or "",
    }
    UserSession.objects.filter(pk=user_session.pk).update(**fields)
    for name, value in fields.items():
        setattr(user_session, name, value)


def end_session_endpoint() -> str | None:
    """``UPSTREAM_END_SESSION_ENDPOINT``, else the ``end_session_endpoint`` of ``UPSTREAM_DISCOVERY_URL``
    (fetched once an hour); None when there is none or the discovery document cannot be read."""
    if app_settings.UPSTREAM_END_SESSION_ENDPOINT:
        return app_settings.UPSTREAM_END_SESSION_ENDPOINT
    url = app_settings.UPSTREAM_DISCOVERY_URL
    if not url:
        return None
    cache_key = f"django_idp_logout:upstream_discovery:{url}"
    endpoint = cache.get(cache_key)
    if endpoint is None:
        try:
            response = requests.get(url, timeout=5)
            response.raise_for_status()
            endpoint = response.json().get("end_session_endpoint") or ""
        except (requests.RequestException, ValueError, AttributeError):
            return None  # try again next time; finish locally now
        cache.set(cache_key, endpoint, DISCOVERY_CACHE_SECONDS)
    return endpoint or None


def upstream_logout_url(*, id_token: str, callback_url: str, completed_id: str) -> str | None:
    """Where to send the browser to sign out upstream, or None to finish locally."""
    endpoint = end_session_endpoint()
    if not endpoint or not id_token:
        return None
    state = signing.dumps({"id": completed_id}, salt=STATE_SALT, compress=True)
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": callback_url, "state": state})
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def completed_id_from_state(state: str | None) -> str:
    """The logged-out page's id carried by a valid ``state``; raises InvalidState otherwise."""
    if not state or untrusted.problem(state, max_length=16384):
        raise InvalidState("missing or malformed")
    try:
        data = signing.loads(state, salt=STATE_SALT, max_age=app_settings.LOGOUT_ID_MAX_AGE)
    except signing.BadSignature:
        raise InvalidState("invalid or expired")
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise InvalidState("invalid")
    return data["id"]
