"""Logout token validation, OpenID Connect Back-Channel Logout 1.0 section 2.6 (with errata set 1).

``validate_logout_token()`` does every check of section 2.6 except the replay check (step 10), which
needs the database and lives with the session ending in ``services.py``:

1. compact JWS only (an encrypted token is refused: the kit registers no encryption keys);
2. ``alg`` in the allow-list (``ALGORITHMS``, default ``[OIDC_RP_SIGN_ALGO]``), never ``none``; no
   ``crit`` extensions; ``typ``, when present, one of ``ACCEPTED_TOKEN_TYPES`` (explicit typing,
   section 2.4 and 4.1, so an ID token can never pass as a logout token);
3. signature with the OP's JWKS key (by ``kid``) or, for HMAC, the client secret;
4. ``iss`` equals ``ISSUER``; ``aud`` is, or contains, ``OIDC_RP_CLIENT_ID``;
5. ``iat`` present and not in the future, ``exp`` present and not passed, ``nbf`` if present reached
   (all with ``LEEWAY``);
6. ``jti`` present; ``events`` an object whose back-channel member is an object;
7. ``sub`` or ``sid`` (or both) present; ``nonce`` absent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from jwcrypto import jws

from .. import untrusted
from . import jwks
from .conf import rp_settings

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_TOKEN_LENGTH = 16 * 1024
MAX_ID_LENGTH = untrusted.MAX_ID_LENGTH  # the index columns for sid and sub


class InvalidLogoutToken(Exception):
    """The token must be refused; ``str(exc)`` is a description safe to return to the OP."""


@dataclass(frozen=True)
class LogoutClaims:
    issuer: str
    jti: str
    exp: float
    sub: str | None
    sid: str | None

    @property
    def replay_digest(self) -> str:
        """sha256 of issuer NUL jti: a fixed-length key for the replay table, whatever the jti is."""
        return hashlib.sha256(f"{self.issuer}\0{self.jti}".encode()).hexdigest()

    @property
    def replay_until(self) -> datetime:
        """Until when a replay must be refused: after ``exp`` + ``LEEWAY`` the token fails as expired."""
        try:
            return datetime.fromtimestamp(self.exp + rp_settings.LEEWAY, tz=UTC)
        except (OverflowError, OSError, ValueError):  # an exp beyond what datetime can hold
            return datetime.max.replace(tzinfo=UTC)


def validate_logout_token(
    raw: object, *, issuer: str | None = None, audience: str | None = None, now: float | None = None
) -> LogoutClaims:
    """Validate a logout token and return the claims the kit acts on; raises ``InvalidLogoutToken``.

    ``issuer`` and ``audience`` default to ``ISSUER`` and ``OIDC_RP_CLIENT_ID``; other code that
    receives logout tokens from a mozilla-django-oidc upstream can pass its own."""
    now = time.time() if now is None else now
    issuer = issuer if issuer is not None else rp_settings.ISSUER
    audience = audience if audience is not None else rp_settings.client_id
    if not isinstance(raw, str) or not raw:
        raise InvalidLogoutToken("logout_token is missing")
    if reason := untrusted.problem(raw, max_length=MAX_TOKEN_LENGTH):
        raise InvalidLogoutToken(f"logout_token {reason}")
    parts = raw.split(".")
    if len(parts) == 5:
        raise InvalidLogoutToken("encrypted logout tokens are not supported")
    if len(parts) != 3:
        raise InvalidLogoutToken("logout_token is not a compact JWS")
    header = _decode_json_segment(parts[0], "header")
    alg = _check_header(header)
    claims = _verify_signature(raw, alg=alg, kid=header.get("kid"))
    return _check_claims(claims, issuer=issuer, audience=audience, now=now)


def _decode_json_segment(segment: str, what: str) -> dict:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: not a token
        raise InvalidLogoutToken(f"the token {what} is not base64url-encoded JSON")
    if not isinstance(value, dict):
        raise InvalidLogoutToken(f"the token {what} is not a JSON object")
    return value


def _check_header(header: dict) -> str:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in rp_settings.algorithms or alg.lower() == "none":
        raise InvalidLogoutToken(f"signing algorithm {alg!r} is not accepted")
    if "crit" in header or "b64" in header:
        raise InvalidLogoutToken("JWS header extensions are not supported")
    if "typ" in header:
        typ = header["typ"]
        accepted = {_normalize_typ(t) for t in rp_settings.ACCEPTED_TOKEN_TYPES}
        if not isinstance(typ, str) or _normalize_typ(typ) not in accepted:
            raise InvalidLogoutToken(f"token type {typ!r} is not a logout token type")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidLogoutToken("kid is not a string")
    return alg


def _normalize_typ(typ: str) -> str:
    typ = typ.lower()
    return typ.removeprefix("application/")


def _verify_signature(raw: str, *, alg: str, kid: str | None) -> dict:
    try:
        keys = jwks.candidate_keys(alg=alg, kid=kid)
    except jwks.KeyUnavailable as exc:
        raise InvalidLogoutToken(f"cannot verify the signature: {exc}")
    for key in keys:
        token = _verified(raw, key=key, alg=alg)
        if token is not None:
            break
    else:
        raise InvalidLogoutToken("the signature does not verify")
    try:
        claims = json.loads(token.payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidLogoutToken("the token payload is not JSON")
    if not isinstance(claims, dict):
        raise InvalidLogoutToken("the token payload is not a JSON object")
    return claims


def _verified(raw: str, *, key, alg: str) -> jws.JWS | None:
    """The token if ``key`` verifies it with ``alg`` (and only ``alg``), else None."""
    token = jws.JWS()
    token.allowed_algs = [alg]
    try:
        token.deserialize(raw)
        token.verify(key, alg=alg)
    except Exception:  # jwcrypto raises several types; any failure means "not this key"
        return None
    return token


def _is_number(value: object) -> bool:
    # JSON allows NaN and Infinity in Python's parser: they would slip through every comparison.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_claims(claims: dict, *, issuer: str | None, audience: str | None, now: float) -> LogoutClaims:
    leeway = rp_settings.LEEWAY
    if not issuer or claims.get("iss") != issuer:
        raise InvalidLogoutToken("iss is not the expected issuer")

    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not audience or audience not in audiences:
        raise InvalidLogoutToken("aud does not contain this client")

    iat, exp = claims.get("iat"), claims.get("exp")
    if not _is_number(iat):
        raise InvalidLogoutToken("iat is missing")
    if iat > now + leeway:
        raise InvalidLogoutToken("iat is in the future")
    if not _is_number(exp):
        raise InvalidLogoutToken("exp is missing")
    if exp + leeway < now:
        raise InvalidLogoutToken("the token has expired")
    nbf = claims.get("nbf")
    if nbf is not None and (not _is_number(nbf) or nbf > now + leeway):
        raise InvalidLogoutToken("the token is not valid yet")

    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise InvalidLogoutToken("jti is missing")
    if reason := untrusted.problem(jti):
        raise InvalidLogoutToken(f"jti {reason}")

    events = claims.get("events")
    if not isinstance(events, dict) or BACKCHANNEL_EVENT not in events:
        raise InvalidLogoutToken("events does not declare a back-channel logout")
    if not isinstance(events[BACKCHANNEL_EVENT], dict):
        raise InvalidLogoutToken("the back-channel logout event is not a JSON object")

    if "nonce" in claims:
        raise InvalidLogoutToken("a logout token must not contain a nonce")

    sub, sid = claims.get("sub"), claims.get("sid")
    for name, value in (("sub", sub), ("sid", sid)):
        if value is not None and (value == "" or untrusted.problem(value, max_length=MAX_ID_LENGTH)):
            raise InvalidLogoutToken(f"{name} is not a valid identifier")
    if sub is None and sid is None:
        raise InvalidLogoutToken("the token names neither sub nor sid")

    return LogoutClaims(issuer=issuer, jti=jti, exp=float(exp), sub=sub, sid=sid)
