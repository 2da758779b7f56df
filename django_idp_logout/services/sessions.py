"""The lifecycle of login sessions: start, activity, expiry, coordination, and the ONE way to end them.

Every path that ends a session (the logout page, ``django.contrib.auth.logout`` from anywhere, the
admin, the Python API, expiry, an upstream logout) calls ``end_session``. It locks the session row, so
a refresh racing with the logout either finishes first (and its tokens are then revoked with the rest)
or sees the session ended and fails (``IdpLogoutValidatorMixin`` takes the same lock).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import router, transaction
from django.utils import timezone

from .. import signals
from ..conf import app_settings
from ..models import ClientLogoutSettings, EndReason, SessionClient, SessionToken, UserSession
from . import notifications
from .revocation import RevocationCounts, revoke_session_tokens
from .unbound import clients_with_unbound_tokens, revoke_unbound_tokens

logger = logging.getLogger(__name__)


@dataclass
class EndedSession:
    """What ending a session did."""

    user_session: UserSession
    ended_now: bool
    revoked_client_ids: list[str] = field(default_factory=list)
    counts: RevocationCounts = field(default_factory=RevocationCounts)
    notification_ids: list[int] = field(default_factory=list)


def _atomic():
    return transaction.atomic(using=router.db_for_write(UserSession))


def start_session(*, user, details: dict | None = None) -> UserSession:
    """A new login session for ``user``; ``session_started`` follows the commit. ``details``: what
    identifies the device (``user_agent``, ``browser``, ``os``, ``ip_address``)."""
    user_session = UserSession.objects.create(user=user, **(details or {}))
    transaction.on_commit(
        lambda: signals.session_started.send(sender=UserSession, user_session=user_session),
        using=router.db_for_write(UserSession),
    )
    return user_session


def expiry_reason(user_session: UserSession, *, now=None) -> str | None:
    """``session_expiration`` when the idle or absolute timeout has passed, else None."""
    now = now or timezone.now()
    idle, absolute = app_settings.SESSION_IDLE_TIMEOUT, app_settings.SESSION_ABSOLUTE_TIMEOUT
    if idle and user_session.last_activity + timedelta(seconds=idle) <= now:
        return EndReason.SESSION_EXPIRATION
    if absolute and user_session.created_at + timedelta(seconds=absolute) <= now:
        return EndReason.SESSION_EXPIRATION
    return None


def is_live(user_session: UserSession) -> bool:
    return user_session.ended_at is None and expiry_reason(user_session) is None


def record_activity(user_session: UserSession) -> None:
    """Slide the idle timeout, writing at most once per ``SESSION_ACTIVITY_RESOLUTION`` seconds."""
    now = timezone.now()
    if now - user_session.last_activity < timedelta(seconds=app_settings.SESSION_ACTIVITY_RESOLUTION):
        return
    UserSession.objects.filter(pk=user_session.pk, ended_at__isnull=True).update(last_activity=now)
    user_session.last_activity = now


def add_client(user_session: UserSession, application) -> None:
    """Record that ``application`` took part in the session (idempotent)."""
    SessionClient.objects.get_or_create(user_session=user_session, application=application)


def bind_token(user_session: UserSession, application, **token) -> SessionToken:
    """Bind one token (``grant=``, ``access_token=``, ``refresh_token=`` or ``id_token=``) to the session."""
    return SessionToken.objects.create(user_session=user_session, application=application, **token)


@dataclass(frozen=True)
class EndingClient:
    """A client of a session being ended: what revocation and the back-channel need to know."""

    application_id: int
    client_id: str
    coordinated: bool
    backchannel_logout_uri: str


def ending_clients(user_session: UserSession) -> list[EndingClient]:
    """The session's clients, in one query. ``coordinated`` is the effective setting: per client
    ``ClientLogoutSettings.coordinate_lifetime_with_user_session`` when set, else the global
    ``COORDINATE_LIFETIME_WITH_USER_SESSION``."""
    rows = SessionClient.objects.filter(user_session=user_session).values_list(
        "application_id",
        "application__client_id",
        "application__logout_settings__coordinate_lifetime_with_user_session",
        "application__logout_settings__backchannel_logout_uri",
    )
    return [
        EndingClient(pk, client_id, effective_coordinate(own), uri or "") for pk, client_id, own, uri in rows
    ]


def effective_coordinate(own: bool | None) -> bool:
    """A client's own coordinate setting, else the global default."""
    return app_settings.COORDINATE_LIFETIME_WITH_USER_SESSION if own is None else own


def is_coordinated(application) -> bool:
    """The effective coordinate setting of one client."""
    own = (
        ClientLogoutSettings.objects.filter(application=application)
        .values_list("coordinate_lifetime_with_user_session", flat=True)
        .first()
    )
    return effective_coordinate(own)


def may_outlive_session(application, scopes) -> bool:
    """Whether tokens of ``application`` with ``scopes`` stay usable after their session ended: the
    client is not coordinated, or the grant has ``offline_access`` and ``KEEP_OFFLINE_ACCESS_TOKENS``."""
    if app_settings.KEEP_OFFLINE_ACCESS_TOKENS and "offline_access" in (scopes or []):
        return True
    return not is_coordinated(application)


def end_session(
    *, user_session: UserSession, reason: str, revoke_tokens: bool = True, notify_clients: bool = True
) -> EndedSession:
    """End ``user_session`` (once): mark it ended, revoke its coordinated clients' tokens, queue the
    back-channel notifications (in the same transaction), then, after commit, signal and deliver.

    Idempotent: a session already ended is left as it is. The query count does not depend on the
    number of tokens.
    """
    with _atomic():
        locked = UserSession.objects.select_for_update().filter(pk=user_session.pk).first()
        if locked is None or locked.ended_at is not None:
            return EndedSession(user_session=locked or user_session, ended_now=False)
        locked.ended_at = timezone.now()
        locked.end_reason = reason
        # The upstream ID token is only needed for the redirect that follows; the caller read it before.
        UserSession.objects.filter(pk=locked.pk).update(
            ended_at=locked.ended_at, end_reason=reason, upstream_id_token=""
        )
        result = EndedSession(user_session=locked, ended_now=True)
        clients = ending_clients(locked) if revoke_tokens or notify_clients else []
        if revoke_tokens:
            coordinated = {c.application_id: c.client_id for c in clients if c.coordinated}
            result.counts = revoke_session_tokens(locked, coordinated)
            # Tokens from before the app was installed belong to no session: DOT's logout would have
            # deleted them, so they end with any session of their user (docs/adopting.md).
            unbound = (
                clients_with_unbound_tokens(locked.user_id) if app_settings.REVOKE_UNBOUND_TOKENS else {}
            )
            result.counts.add(revoke_unbound_tokens(locked.user_id, unbound))
            result.revoked_client_ids = sorted({*coordinated.values(), *unbound.values()})
        if notify_clients:
            result.notification_ids = notifications.queue_backchannel(
                locked,
                reason=reason,
                targets=[
                    (c.application_id, c.backchannel_logout_uri) for c in clients if c.backchannel_logout_uri
                ],
            )
        transaction.on_commit(lambda: _after_commit(result), using=router.db_for_write(UserSession))
    user_session.ended_at, user_session.end_reason = locked.ended_at, locked.end_reason
    return result


def _after_commit(result: EndedSession) -> None:
    """Signals, then delivery. The session has ended and the outbox is committed: a failing receiver or
    an unreachable Celery broker must not turn the logout into an error (the sweeper sends later)."""
    from .outbox import dispatch

    for step in (lambda: _send_ended_signals(result), lambda: dispatch(result.notification_ids)):
        try:
            step()
        except Exception:
            logger.exception(
                "django_idp_logout: after-commit step failed for session %s", result.user_session.pk
            )


def _send_ended_signals(result: EndedSession) -> None:
    signals.session_ended.send(
        sender=UserSession, user_session=result.user_session, reason=result.user_session.end_reason
    )
    if result.revoked_client_ids:
        signals.tokens_revoked.send(
            sender=UserSession,
            user_session=result.user_session,
            client_ids=result.revoked_client_ids,
            counts=result.counts.as_dict(),
        )


def end_sessions(
    sessions: Iterable[UserSession],
    *,
    reason: str = EndReason.TERMINATED,
    revoke_tokens: bool = True,
    notify_clients: bool = True,
) -> list[EndedSession]:
    """End several sessions, each through ``end_session``; returns those ended now."""
    results = [
        end_session(user_session=s, reason=reason, revoke_tokens=revoke_tokens, notify_clients=notify_clients)
        for s in sessions
    ]
    return [r for r in results if r.ended_now]
