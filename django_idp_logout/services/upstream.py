"""Inbound upstream logout: the upstream provider tells us its user signed out (Back-Channel and
Front-Channel Logout 1.0, with us as its relying party through mozilla-django-oidc).

Every one of our sessions that came from that upstream ``sid`` (or, without a ``sid``, from that
``sub``) ends with reason ``upstream_logout``, through ``end_session``: coordinated tokens revoked and
our own clients notified. The token checks are the client-site kit's (``rp.tokens``, a pure module):
signature against the upstream JWKS (``OIDC_OP_JWKS_ENDPOINT``), ``iss`` = ``UPSTREAM_ISSUER``,
``aud`` = ``OIDC_RP_CLIENT_ID``, ``iat``/``exp``, ``events``, no ``nonce``; the ``jti`` is recorded here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, router, transaction

from .. import untrusted
from ..conf import app_settings
from ..models import EndReason, UpstreamLogoutToken, UserSession
from ..rp.tokens import InvalidLogoutToken, validate_logout_token
from .sessions import EndedSession, end_sessions


class UpstreamLogoutError(Exception):
    """The request must be refused with 400; ``str(exc)`` is safe to return to the upstream."""


def _upstream_issuer() -> str:
    issuer = app_settings.UPSTREAM_ISSUER
    if not issuer:
        raise UpstreamLogoutError("upstream logout is not configured (UPSTREAM_ISSUER)")
    return issuer


def sessions_from_upstream(*, issuer: str, sid: str | None, sub: str | None):
    """Our active sessions that came from this upstream session (by sid; by sub when there is none)."""
    sessions = UserSession.objects.active().filter(upstream_issuer=issuer)
    if sid:
        sessions = sessions.filter(upstream_sid=sid)
        return sessions.filter(upstream_sub=sub) if sub else sessions
    if sub:
        return sessions.filter(upstream_sub=sub)
    return sessions.none()


def handle_backchannel_logout(raw_token: object) -> list[EndedSession]:
    """Validate the upstream's logout token, refuse a replayed ``jti``, end the matching sessions."""
    issuer = _upstream_issuer()
    try:
        claims = validate_logout_token(
            raw_token, issuer=issuer, audience=getattr(settings, "OIDC_RP_CLIENT_ID", None)
        )
    except InvalidLogoutToken as exc:
        raise UpstreamLogoutError(str(exc))
    database = router.db_for_write(UserSession)
    with transaction.atomic(using=database):
        try:
            with transaction.atomic(using=database):
                UpstreamLogoutToken.objects.create(
                    digest=claims.replay_digest, expires_at=claims.replay_until
                )
        except IntegrityError:
            raise UpstreamLogoutError("this logout token (jti) was already used")
        sessions = sessions_from_upstream(issuer=claims.issuer, sid=claims.sid, sub=claims.sub)
        return end_sessions(list(sessions), reason=EndReason.UPSTREAM_LOGOUT)


def handle_frontchannel_logout(*, iss: str | None, sid: str | None) -> list[EndedSession]:
    """Front-Channel Logout 1.0: ``iss`` must be the upstream's and ``sid`` is required."""
    issuer = _upstream_issuer()
    if not sid or not iss:
        raise UpstreamLogoutError("iss and sid are required")
    try:
        iss = untrusted.text(iss, name="iss")
        sid = untrusted.identifier(sid, name="sid")
    except untrusted.MalformedInput as exc:
        raise UpstreamLogoutError(str(exc))
    if iss != issuer:
        raise UpstreamLogoutError("iss is not the upstream provider")
    sessions = sessions_from_upstream(issuer=issuer, sid=sid, sub=None)
    return end_sessions(list(sessions), reason=EndReason.UPSTREAM_LOGOUT)
