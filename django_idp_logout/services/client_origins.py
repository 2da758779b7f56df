"""The origins of the registered clients' redirect URIs: who may frame the check_session_iframe and whose
messages it answers (OpenID Connect Session Management 1.0, section 3.3).

Reading every client's redirect URIs is a scan of the client table, and the iframe is loaded by every
page of every RP that polls it. The list is therefore kept in Django's default cache: dropped when a
client is saved or deleted in this process (``receivers``), and at most ``ORIGINS_CACHE_SECONDS`` old
when another process (or a bulk ``update()``, which sends no signal) changed it.
"""

from __future__ import annotations

from django.core.cache import cache
from oauth2_provider.models import get_application_model

from .session_state import origin_of

CACHE_KEY = "django_idp_logout:client_origins:v1"
ORIGINS_CACHE_SECONDS = 300


def registered_origins() -> tuple[str, ...]:
    """The sorted, distinct http(s) origins of every registered client's redirect URIs."""
    origins = cache.get(CACHE_KEY)
    if origins is None:
        origins = _read_origins()
        cache.set(CACHE_KEY, origins, ORIGINS_CACHE_SECONDS)
    return tuple(origins)


def forget_registered_origins(**kwargs) -> None:
    """Drop the cached list (a client was saved or deleted)."""
    cache.delete(CACHE_KEY)


def _read_origins() -> list[str]:
    found: set[str] = set()
    for redirect_uris in get_application_model().objects.values_list("redirect_uris", flat=True).iterator():
        for uri in (redirect_uris or "").split():
            origin = origin_of(uri)
            if origin is not None:
                found.add(origin)
    return sorted(found)
