"""Verification of ``id_token_hint`` (OpenID Connect RP-Initiated Logout 1.0, section 2).

The OP must check that it issued the hint: the signature must verify with one of its own keys (the
active RSA key, a rotated-out one, or the client's secret for HS256 clients). An expired hint is
accepted (section 4: "The OP SHOULD accept ID Tokens when the RP identified by the ID Token's aud
claim ... has a current session ... even when the exp time has passed"), and the token's database row
is not needed: a second client logging out after the first must still be recognised. A project that
sets DOT's ``OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS = False`` keeps that meaning: an expired
hint is refused (with DOT's 60-second leeway, jwcrypto's default).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from jwcrypto import jwk, jws
from jwcrypto.common import JWException
from oauth2_provider.models import AbstractApplication, get_application_model
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import jwk_from_pem

from .. import untrusted

MAX_HINT_LENGTH = 8192
# Three base64url segments: header.payload.signature (an empty signature is refused later, by the alg pin).
COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
EXPIRY_LEEWAY = 60  # seconds; jwcrypto's default, which DOT's own logout view uses


class InvalidHint(Exception):
    """The hint is not a token this OP issued; ``str(exc)`` says why, for the 400 page."""


@dataclass(frozen=True)
class VerifiedHint:
    """The claims of a hint whose signature and issuer checked out."""

    application: Any
    claims: dict[str, Any]

    @property
    def subject(self) -> str:
        return str(self.claims["sub"])

    @property
    def sid(self) -> str | None:
        sid = self.claims.get("sid")
        return str(sid) if sid is not None else None

    @property
    def audiences(self) -> list[str]:
        aud = self.claims["aud"]
        return [aud] if isinstance(aud, str) else list(aud)


def op_rsa_keys() -> list[jwk.JWK]:
    """The OP's RSA signing keys: the active one first, then rotated-out ones still published."""
    pems = [oauth2_settings.OIDC_RSA_PRIVATE_KEY, *oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE]
    return [jwk_from_pem(pem) for pem in pems if pem]


def issuer(request=None) -> str:
    """Our issuer: ``OIDC_ISS_ENDPOINT`` when set, else derived from the request as DOT does."""
    if oauth2_settings.OIDC_ISS_ENDPOINT:
        return oauth2_settings.OIDC_ISS_ENDPOINT
    if request is None:
        raise ImproperlyConfigured("OIDC_ISS_ENDPOINT must be set to find the issuer outside a request.")
    return oauth2_settings.oidc_issuer(request)


def _unverified_parts(token: str) -> tuple[jws.JWS, dict[str, Any], dict[str, Any]]:
    # An ID token is a JWT, and a JWT is always in compact serialization (RFC 7519 section 1): refusing
    # every other form here keeps jwcrypto's JSON serialization (with its own failure modes) unreachable.
    if untrusted.problem(token, max_length=MAX_HINT_LENGTH) or not COMPACT_JWS.fullmatch(token):
        raise InvalidHint(_("The id_token_hint is not a well-formed signed JWT."))
    parsed = jws.JWS()
    try:
        parsed.deserialize(token)
        header = parsed.jose_header
        payload = json.loads(parsed.objects["payload"])
    except (JWException, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise InvalidHint(_("The id_token_hint is not a well-formed signed JWT."))
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise InvalidHint(_("The id_token_hint is not a well-formed signed JWT."))
    return parsed, header, payload


def _application_for(audiences: list[str], client_id: str | None):
    Application = get_application_model()
    if client_id is not None:
        # RP-Initiated Logout 1.0 section 2: client_id, when sent with a hint, MUST equal its aud.
        if client_id not in audiences:
            raise InvalidHint(_("The client_id does not match the audience of the id_token_hint."))
        wanted = [client_id]
    else:
        wanted = audiences
    apps = {app.client_id: app for app in Application.objects.filter(client_id__in=wanted)}
    for audience in wanted:
        if audience in apps:
            return apps[audience]
    raise InvalidHint(_("The id_token_hint was issued to an unknown client."))


def _keys_for(application) -> list[jwk.JWK]:
    if application.algorithm == AbstractApplication.RS256_ALGORITHM:
        return op_rsa_keys()
    if application.algorithm == AbstractApplication.HS256_ALGORITHM:
        try:
            return [application.jwk_key]
        except ImproperlyConfigured:
            return []
    return []


def verify_id_token_hint(token: str, *, client_id: str | None = None, request=None) -> VerifiedHint:
    """Return the hint's claims if this OP issued it to the client it names; else raise InvalidHint.

    Checks, in order: a compact JWS with a JSON object payload; ``aud`` names a registered client
    (and includes ``client_id`` when given); ``alg`` is the client's ID token algorithm (never
    ``none``); the signature verifies with that client's key; ``iss`` is this OP; ``sub`` is present.
    ``exp`` is checked only when DOT's ``OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS`` is False.
    """
    parsed, header, payload = _unverified_parts(token)
    # The aud values reach a query before the signature is checked (it tells which key to use): only
    # values that are plain identifiers go that far.
    aud = payload.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not audiences or any(untrusted.problem(a, max_length=untrusted.MAX_ID_LENGTH) for a in audiences):
        raise InvalidHint(_("The id_token_hint has no valid aud claim."))
    application = _application_for(audiences, client_id)

    # Pin the algorithm to the client's: this refuses "none" and RS256/HS256 confusion.
    if header.get("alg") != application.algorithm:
        raise InvalidHint(_("The id_token_hint is not signed with this client's algorithm."))
    verified = False
    for key in _keys_for(application):
        try:
            parsed.verify(key, alg=application.algorithm)
        except JWException:
            continue
        verified = True
        break
    if not verified:
        raise InvalidHint(_("The signature of the id_token_hint does not verify with this provider's keys."))

    if payload.get("iss") != issuer(request):
        raise InvalidHint(_("The id_token_hint was issued by another provider."))
    # HS256 hints are signed with the client's own secret: the client, not only we, chose these values.
    sub = payload.get("sub")
    if isinstance(sub, bool) or not isinstance(sub, str | int) or untrusted.problem(str(sub)) or sub == "":
        raise InvalidHint(_("The id_token_hint has no subject."))
    sid = payload.get("sid")
    if sid is not None and untrusted.problem(sid, max_length=untrusted.MAX_ID_LENGTH):
        raise InvalidHint(_("The id_token_hint has an invalid sid claim."))
    if not oauth2_settings.OIDC_RP_INITIATED_LOGOUT_ACCEPT_EXPIRED_TOKENS:
        _check_not_expired(payload)
    return VerifiedHint(application=application, claims=payload)


def _check_not_expired(payload: dict[str, Any]) -> None:
    """DOT's rule when expired hints are not accepted: ``exp`` (and ``nbf`` when present) hold."""
    exp, nbf = payload.get("exp"), payload.get("nbf")
    now = time.time()
    if not _is_number(exp) or exp + EXPIRY_LEEWAY < now:
        raise InvalidHint(_("The id_token_hint has expired."))
    if nbf is not None and (not _is_number(nbf) or nbf - EXPIRY_LEEWAY > now):
        raise InvalidHint(_("The id_token_hint is not valid yet."))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # not NaN
