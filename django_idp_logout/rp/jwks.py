"""The OP's signing keys for logout tokens: its JWKS (``OIDC_OP_JWKS_ENDPOINT``), cached, or the client
secret for HMAC algorithms (logout tokens are signed like ID tokens, Back-Channel Logout 1.0 section 2.4).

The JWKS is cached in Django's cache for ``JWKS_CACHE_TIMEOUT`` seconds. A ``kid`` missing from the
cached set triggers one refetch (the OP may have rotated its key), at most once per
``JWKS_MIN_REFETCH_INTERVAL`` seconds, so unknown ``kid`` values cannot make us hammer the OP.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time

import requests
from django.core.cache import cache
from jwcrypto import jwk

from .conf import rp_settings

logger = logging.getLogger(__name__)

# Key type each algorithm family needs: a key of another type is never tried.
_KTY_BY_PREFIX = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP", "HS": "oct"}


class KeyUnavailable(Exception):
    """No key can verify the token (unknown kid, OP unreachable, bad JWKS)."""


def required_kty(alg: str) -> str | None:
    return _KTY_BY_PREFIX.get(alg[:2])


def candidate_keys(*, alg: str, kid: str | None) -> list[jwk.JWK]:
    """The keys that may have signed a token with this ``alg`` and ``kid`` (header values)."""
    kty = required_kty(alg)
    if kty == "oct":
        secret = rp_settings.client_secret
        if not secret:
            raise KeyUnavailable("no client secret to verify an HMAC-signed token")
        return [jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(secret.encode()).rstrip(b"=").decode())]
    jwks, fetched_at = _cached_jwks()
    keys = _select(jwks, alg=alg, kty=kty, kid=kid)
    if not keys and time.time() - fetched_at >= rp_settings.JWKS_MIN_REFETCH_INTERVAL:
        jwks, _ = _cached_jwks(refresh=True)
        keys = _select(jwks, alg=alg, kty=kty, kid=kid)
    if not keys:
        raise KeyUnavailable(f"no key in the OP's JWKS matches kid {kid!r} and alg {alg!r}")
    return keys


def _select(jwks: dict, *, alg: str, kty: str | None, kid: str | None) -> list[jwk.JWK]:
    keys = []
    for data in jwks.get("keys", []):
        if not isinstance(data, dict) or data.get("kty") != kty:
            continue
        if data.get("use", "sig") != "sig" or data.get("alg", alg) != alg:
            continue
        if "key_ops" in data and "verify" not in (data["key_ops"] or []):
            continue
        if kid is not None and data.get("kid") != kid:
            continue
        try:
            keys.append(jwk.JWK(**data))
        except Exception:  # one unusable key must not hide the others
            logger.warning("Ignoring an unusable key in the OP's JWKS (kid %r).", data.get("kid"))
    return keys


def _cache_key(url: str) -> str:
    return "idp_logout_rp:jwks:" + hashlib.sha256(url.encode()).hexdigest()


def _cached_jwks(*, refresh: bool = False) -> tuple[dict, float]:
    url = rp_settings.jwks_endpoint
    if not url:
        raise KeyUnavailable("OIDC_OP_JWKS_ENDPOINT is not set")
    key = _cache_key(url)
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return cached["jwks"], cached["fetched_at"]
    jwks = fetch_jwks(url)
    fetched_at = time.time()
    cache.set(key, {"jwks": jwks, "fetched_at": fetched_at}, rp_settings.JWKS_CACHE_TIMEOUT)
    return jwks, fetched_at


def fetch_jwks(url: str) -> dict:
    """GET the JWKS; raises ``KeyUnavailable`` on any network, HTTP or format problem."""
    try:
        response = requests.get(
            url,
            timeout=rp_settings.JWKS_TIMEOUT,
            verify=rp_settings.verify_ssl,
            proxies=rp_settings.proxies,
        )
        response.raise_for_status()
        jwks = response.json()
    except (requests.RequestException, ValueError) as exc:
        logger.warning("Could not fetch the OP's JWKS from %s: %s", url, exc)
        raise KeyUnavailable("the OP's JWKS could not be fetched") from exc
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise KeyUnavailable("the OP's JWKS is not a JSON object with a 'keys' list")
    return jwks


def clear_cache() -> None:
    """Forget the cached JWKS (for key rotation by hand, and tests)."""
    if rp_settings.jwks_endpoint:
        cache.delete(_cache_key(rp_settings.jwks_endpoint))
