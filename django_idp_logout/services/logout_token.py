"""The back-channel logout token (OpenID Connect Back-Channel Logout 1.0, section 2.4, errata set 1).

Signed like the client's ID tokens (RS256 with the OP key and its ``kid``, HS256 with the client
secret); header ``typ: logout+jwt`` unless the client asked for ``JWT``; claims ``iss``, ``aud``,
``iat``, ``exp``, a fresh ``jti`` per attempt, ``events`` with exactly the back-channel member, ``sub``,
``sid``, never ``nonce``; plus ``logout_reason`` when ``LOGOUT_TOKEN_INCLUDE_REASON``.
"""

from __future__ import annotations

import json
import time
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jwcrypto import jwt
from jwcrypto.common import base64url_encode
from oauth2_provider.models import AbstractApplication

from ..conf import app_settings
from .hints import issuer

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def logout_token_claims(
    *, application, sub: str | None, sid: str | None, reason: str | None, now: int | None = None
) -> dict:
    """The claims; ``sub`` and ``sid`` are each left out when unknown (section 2.4 needs one of them)."""
    now = int(now if now is not None else time.time())
    claims = {
        "iss": issuer(),
        "aud": application.client_id,
        "iat": now,
        "exp": now + app_settings.LOGOUT_TOKEN_LIFETIME,
        "jti": str(uuid.uuid4()),
        "events": {BACKCHANNEL_EVENT: {}},
    }
    if sub:
        claims["sub"] = sub
    if sid:
        claims["sid"] = sid
    if reason and app_settings.LOGOUT_TOKEN_INCLUDE_REASON:
        claims["logout_reason"] = reason
    return claims


def sign_logout_token(*, application, claims: dict, typ: str = "logout+jwt") -> str:
    """Sign with the key DOT uses for this client's ID tokens. Raises ImproperlyConfigured when the
    client cannot sign (e.g. HS256 with a hashed secret).

    RS256 is CPU work (about half of it jwcrypto's own bookkeeping): the key's ``cryptography`` object
    and its ``kid`` are cached per key object (DOT caches the key per PEM), and the compact JWS is
    built directly; every token is still signed on its own, with its own claims."""
    key = application.jwk_key
    if application.algorithm == AbstractApplication.RS256_ALGORITHM:
        private_key, kid = _rsa_signing_key(key)
        header = {"alg": "RS256", "typ": typ, "kid": kid}
        signing_input = f"{_b64_json(header)}.{_b64_json(claims)}".encode("ascii")
        signature = private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode('ascii')}.{base64url_encode(signature)}"
    header = {"alg": application.algorithm, "typ": typ}
    token = jwt.JWT(header=json.dumps(header), claims=json.dumps(claims))
    token.make_signed_token(key)
    return token.serialize()


_rsa_keys: dict[int, tuple[object, object, str]] = {}


def _rsa_signing_key(key) -> tuple:
    """(cryptography private key, kid) of a jwcrypto RSA key, computed once per key object."""
    cached = _rsa_keys.get(id(key))
    if cached is None or cached[0] is not key:
        if len(_rsa_keys) > 32:  # rotated keys: keep the cache small
            _rsa_keys.clear()
        cached = (key, key.get_op_key("sign"), key.thumbprint())
        _rsa_keys[id(key)] = cached
    return cached[1], cached[2]


def _b64_json(value: dict) -> str:
    return base64url_encode(json.dumps(value, separators=(",", ":")).encode("utf-8"))
