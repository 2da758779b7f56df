"""OpenID Connect Session Management 1.0: the OP browser state, RP origins and ``session_state``.

- The browser state is what the check_session_iframe's script reads from a cookie: an HMAC of the live
  session's ``sid`` (so a new login changes it), and nothing at all when there is no live session (so
  any end of the session changes it, whatever path ended it). The ``sid`` itself is never in the cookie.
- ``session_state`` (section 3) is ``sha256(client_id + " " + origin + " " + browser_state + " " + salt)``
  in lowercase hex, then ``"."`` and the salt: exactly what the spec's example iframe recomputes.
- An RP's origin is serialized as browsers serialize ``event.origin`` (RFC 6454): lowercase scheme and
  host, IDNA host, default port omitted, IPv6 in brackets. Only http and https have one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from urllib.parse import urlsplit

from django.utils.crypto import salted_hmac

from ..models import UserSession

_HMAC_SALT = "django_idp_logout.session_state.browser_state"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What may appear in a host we put in an origin (and so in a CSP header and a page): letters, digits,
# "-", "_" and "." after IDNA encoding. Anything else is not a host a browser would report.
_HOST = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_.])?")


def browser_state(user_session: UserSession | None) -> str:
    """The OP browser state of a browser whose live session is ``user_session`` ("" for none)."""
    if user_session is None or user_session.ended_at is not None:
        return ""
    return salted_hmac(_HMAC_SALT, user_session.sid, algorithm="sha256").hexdigest()


def new_salt() -> str:
    """A fresh salt: 128 random bits in hex (never contains "." or " ", which separate the parts)."""
    return secrets.token_hex(16)


def compute_session_state(*, client_id: str, origin: str, browser_state: str, salt: str) -> str:
    """``session_state`` as the spec's example computes it (OIDC Session Management 1.0, section 3)."""
    digest = hashlib.sha256(f"{client_id} {origin} {browser_state} {salt}".encode()).hexdigest()
    return f"{digest}.{salt}"


def session_state_matches(session_state: str, *, client_id: str, origin: str, browser_state: str) -> bool:
    """What the iframe answers ("unchanged" when True): recompute with the salt in ``session_state``."""
    _, dot, salt = session_state.rpartition(".")
    if not dot or not salt:
        return False
    expected = compute_session_state(
        client_id=client_id, origin=origin, browser_state=browser_state, salt=salt
    )
    return secrets.compare_digest(expected, session_state)


def origin_of(uri: str) -> str | None:
    """The origin of an http(s) URI, serialized as a browser's ``event.origin``; None when it has none
    we can name safely (another scheme, no host, a bad port, a host with characters no browser sends)."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = _serialize_host(parts.hostname)
    if host is None:
        return None
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def _serialize_host(hostname: str) -> str | None:
    if ":" in hostname:  # an IPv6 literal (urlsplit removed the brackets)
        if "%" in hostname:  # a zone id: no browser origin has one
            return None
        try:
            return f"[{ipaddress.IPv6Address(hostname).compressed}]"
        except ValueError:  # a zone id, or not an address at all
            return None
    try:
        host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return host if _HOST.fullmatch(host) else None
