"""The index of OIDC-authenticated local sessions, and ending them on the OP's request.

Plain functions, no ``HttpRequest``: the receivers (login, logout), the middleware and the two logout
views call them. Every lookup goes through an index (``local_key``, ``sid``, ``sub``), so the cost of a
logout grows with the number of sessions it ends, never with the number of sessions that exist.

Ending a session (Back-Channel Logout 1.0 section 2.7) is two things:
- mark its index row ended: ``RPLogoutMiddleware`` then signs the browser out on its next request, with
  every session engine (for signed cookies this is the only way: the session lives in the browser);
- delete the stored session right away for engines with a server-side store (db, cache, cached_db,
  file), so it is gone even from code paths that never meet the middleware.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.backends import signed_cookies
from django.db import IntegrityError, router, transaction
from django.utils import timezone

from .. import untrusted
from .conf import rp_settings
from .models import EndReason, ReceivedLogoutToken, RPSession
from .tokens import MAX_ID_LENGTH, InvalidLogoutToken, LogoutClaims

logger = logging.getLogger(__name__)

# Where the local key lives inside the Django session.
LOCAL_KEY_SESSION_KEY = "_idp_logout_rp_key"
SESSION_KEY_MAX_LENGTH = RPSession._meta.get_field("session_key").max_length


@dataclass(frozen=True)
class EndedSessions:
    count: int
    local_keys: frozenset[str]


def _db() -> str:
    return router.db_for_write(RPSession)


def new_local_key() -> str:
    return secrets.token_urlsafe(32)


def index_session(*, local_key: str, session_key: str | None, user, claims: dict) -> RPSession | None:
    """Record a new local session signed in with an ID token carrying ``claims``.

    Returns None (and indexes nothing) when the token is not from ``ISSUER`` or lacks a usable ``sub``:
    a logout from that OP could never be matched anyway.
    """
    issuer, sub, sid = claims.get("iss"), claims.get("sub"), claims.get("sid") or ""
    if not rp_settings.ISSUER or issuer != rp_settings.ISSUER:
        logger.debug("Not indexing a session of issuer %r (ISSUER is %r).", issuer, rp_settings.ISSUER)
        return None
    if not isinstance(sub, str) or not sub or not isinstance(sid, str):
        logger.warning("Not indexing a session: the ID token has no usable sub/sid.")
        return None
    if any(untrusted.problem(value, max_length=MAX_ID_LENGTH) for value in (sub, sid, issuer)):
        logger.warning(
            "Not indexing a session: iss, sub or sid is not text of at most %d characters.", MAX_ID_LENGTH
        )
        return None
    return RPSession.objects.using(_db()).create(
        local_key=local_key, session_key=session_key or "", user=user, issuer=issuer, sub=sub, sid=sid
    )


def server_side_session_key(session) -> str:
    """The key under which the session engine stores this session on the server, or "" when there is
    no server-side store (signed cookies: the "key" is the whole signed cookie, nothing to delete)."""
    key = session.session_key or ""
    if isinstance(session, signed_cookies.SessionStore) or len(key) > SESSION_KEY_MAX_LENGTH:
        return ""
    return key


def is_live(*, local_key: str) -> bool:
    """Whether the session with this local key may continue. A key without a live index row is refused
    (fail closed): the row was ended, or deleted by the cleanup. Read from the primary database, so a
    replica that lags behind a fresh login cannot sign the user out."""
    return RPSession.objects.using(_db()).filter(local_key=local_key, ended_at__isnull=True).exists()


def end_local(*, local_key: str, reason: str) -> int:
    """Mark one session ended (a local logout, or a new login replacing it in the same browser)."""
    return (
        RPSession.objects.using(_db())
        .filter(local_key=local_key, ended_at__isnull=True)
        .update(ended_at=timezone.now(), end_reason=reason)
    )


def end_sessions(
    *, issuer: str, sid: str | None = None, sub: str | None = None, reason: str
) -> EndedSessions:
    """End the local sessions of the OP session ``sid`` (and ``sub`` when also given), or, with only
    ``sub``, all of that subject's sessions (Back-Channel Logout 1.0 section 2.7). Idempotent."""
    if not sid and not sub:
        raise ValueError("end_sessions() needs a sid or a sub")
    db = _db()
    with transaction.atomic(using=db):
        ended = _mark_ended(db=db, issuer=issuer, sid=sid, sub=sub, reason=reason)
    return _delete_stored_sessions(ended)


def end_sessions_for_logout_token(claims: LogoutClaims) -> EndedSessions:
    """Act on a validated logout token: refuse a replayed ``jti`` (section 2.6 step 10), then end the
    sessions, in one transaction so that a failure leaves the ``jti`` unused for the OP's retry."""
    db = _db()
    with transaction.atomic(using=db):
        _record_jti(db=db, claims=claims)
        ended = _mark_ended(
            db=db, issuer=claims.issuer, sid=claims.sid, sub=claims.sub, reason=EndReason.BACKCHANNEL_LOGOUT
        )
    return _delete_stored_sessions(ended)


def _record_jti(*, db: str, claims: LogoutClaims) -> None:
    try:
        with transaction.atomic(using=db):
            ReceivedLogoutToken.objects.using(db).create(
                digest=claims.replay_digest, expires_at=claims.replay_until
            )
    except IntegrityError:
        raise InvalidLogoutToken("this logout token (jti) was already used")


def _mark_ended(*, db: str, issuer: str, sid: str | None, sub: str | None, reason: str) -> list[tuple]:
    rows = RPSession.objects.using(db).filter(issuer=issuer, ended_at__isnull=True)
    if sid:
        rows = rows.filter(sid=sid)
    if sub:
        rows = rows.filter(sub=sub)
    matched = list(rows.select_for_update().values_list("pk", "local_key", "session_key"))
    if matched:
        RPSession.objects.using(db).filter(pk__in=[pk for pk, _, _ in matched]).update(
            ended_at=timezone.now(), end_reason=reason
        )
    return matched


def _delete_stored_sessions(matched: list[tuple]) -> EndedSessions:
    # Outside the transaction on purpose: the cache and file engines are not transactional, and a
    # session deleted by a transaction that then rolls back is only signed out early (fail safe).
    session_keys = [key for _, _, key in matched if key]
    if session_keys:
        store_class = import_module(settings.SESSION_ENGINE).SessionStore
        for key in session_keys:
            store_class().delete(key)
    return EndedSessions(count=len(matched), local_keys=frozenset(local for _, local, _ in matched))


@dataclass(frozen=True)
class CleanupCounts:
    tokens: int
    ended_sessions: int
    old_sessions: int


def clear_expired(*, now: datetime | None = None) -> CleanupCounts:
    """Delete what is no longer needed: ``jti`` records past their token's expiry (the token would be
    refused as expired anyway), ended index rows, and, with ``INDEX_MAX_AGE``, rows of live sessions
    older than that (which signs those sessions out)."""
    now = now or timezone.now()
    db = _db()
    tokens, _ = ReceivedLogoutToken.objects.using(db).filter(expires_at__lt=now).delete()
    ended, _ = RPSession.objects.using(db).filter(ended_at__isnull=False).delete()
    old = 0
    if rp_settings.INDEX_MAX_AGE:
        cutoff = now - timedelta(seconds=rp_settings.INDEX_MAX_AGE)
        old, _ = RPSession.objects.using(db).filter(ended_at__isnull=True, created_at__lt=cutoff).delete()
    return CleanupCounts(tokens=tokens, ended_sessions=ended, old_sessions=old)
