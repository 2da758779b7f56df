"""The lifecycle of login sessions: start, activity, expiry, coordination, and the ONE way to end them.

Every path that ends sessions (the logout page, ``django.contrib.auth.logout`` from anywhere, the
admin, the Python API, expiry, an upstream logout, ``idp_logout_end_sessions``) goes through
``end_session`` (one session) or ``end_sessions`` (many, batch by batch); both end what they have
locked with the one set-based ``_end_claimed``. The session rows are locked, so a refresh racing with
the logout either finishes first (and its tokens are then revoked with the rest) or sees the session
ended and fails (``IdpLogoutValidatorMixin`` takes the same lock).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connections, router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from .. import signals
from ..conf import app_settings
from ..models import ClientLogoutSettings, EndReason, SessionClient, SessionToken, UserSession
from . import notifications
from .id_lists import any_of
from .revocation import RevocationCounts, revoke_sessions_tokens
from .unbound import (
    any_revocable_unbound_tokens,
    clients_with_unbound_tokens,
    coordinated_browser_client,
    revocable_queryset,
    revoke_unbound_tokens,
)

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
    """The session's clients, in one query (see ``batch_ending_clients``)."""
    return batch_ending_clients([user_session.pk]).get(user_session.pk, [])


def batch_ending_clients(session_ids: list[int]) -> dict[int, list[EndingClient]]:
    """The clients of each session, in one query. ``coordinated`` is the effective setting: per client
    ``ClientLogoutSettings.coordinate_lifetime_with_user_session`` when set, else the global
    ``COORDINATE_LIFETIME_WITH_USER_SESSION``."""
    rows = SessionClient.objects.filter(any_of("user_session_id", session_ids)).values_list(
        "user_session_id",
        "application_id",
        "application__client_id",
        "application__logout_settings__coordinate_lifetime_with_user_session",
        "application__logout_settings__backchannel_logout_uri",
    )
    clients: dict[int, list[EndingClient]] = {}
    for session_id, pk, client_id, own, uri in rows:
        clients.setdefault(session_id, []).append(
            EndingClient(pk, client_id, effective_coordinate(own), uri or "")
        )
    return clients


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


DEFAULT_BATCH_SIZE = 500


def end_session(
    *, user_session: UserSession, reason: str, revoke_tokens: bool = True, notify_clients: bool = True
) -> EndedSession:
    """End ``user_session`` (once): mark it ended, revoke its coordinated clients' tokens, queue the
    back-channel notifications (in the same transaction), then, after commit, signal and deliver.

    The batch-of-one case of ``end_sessions``: the same set-based ``_end_claimed`` does the work.
    Idempotent: a session already ended is left as it is. The query count does not depend on the
    number of tokens.
    """
    with _atomic():
        locked = UserSession.objects.select_for_update().filter(pk=user_session.pk).first()
        if locked is None or locked.ended_at is not None:
            return EndedSession(user_session=locked or user_session, ended_now=False)
        (result,) = _end_claimed(
            [locked], reason=reason, revoke_tokens=revoke_tokens, notify_clients=notify_clients
        )
    user_session.ended_at, user_session.end_reason = locked.ended_at, locked.end_reason
    return result


def end_sessions(
    sessions: Iterable[UserSession],
    *,
    reason: str = EndReason.TERMINATED,
    revoke_tokens: bool = True,
    notify_clients: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[EndedSession]:
    """End several sessions, a batch per transaction; returns those ended now.

    ``sessions`` is a QuerySet (read batch by batch, never loaded whole) or any iterable of sessions.
    Each batch costs the same few statements whatever its size (see ``iter_end_sessions``)."""
    ended: list[EndedSession] = []
    for batch in iter_end_sessions(
        sessions,
        reason=reason,
        revoke_tokens=revoke_tokens,
        notify_clients=notify_clients,
        batch_size=batch_size,
    ):
        ended.extend(batch)
    return ended


def iter_end_sessions(
    sessions: Iterable[UserSession],
    *,
    reason: str,
    revoke_tokens: bool = True,
    notify_clients: bool = True,
    batch_size: int = DEFAULT_BATCH_SIZE,
    share_work: bool = False,
    dispatch: bool = True,
    claim_order: tuple[str, ...] = (),
) -> Iterator[list[EndedSession]]:
    """End the active sessions among ``sessions`` batch by batch, yielding each batch's ended sessions
    once its transaction has committed. Interrupted (killed) runs leave every batch either committed or
    untouched: running again ends the rest.

    Per batch: claim the rows (``SELECT ... FOR UPDATE``), one UPDATE marks them ended, one SELECT reads
    their clients, the revocation statements (``revoke_sessions_tokens``), one INSERT queues the
    notifications. ``share_work``: claim with ``SKIP LOCKED`` where the database has it, so several
    nodes split a large run; a last pass then waits for rows other nodes hold, which are skipped as
    ended once they commit. Without ``SKIP LOCKED`` the claims wait instead (still each session once).
    ``dispatch=False`` leaves sending to ``idp_logout_deliver`` (or the worker): large runs then do not
    hold thousands of notifications in this process. ``claim_order``: the columns of an index that
    serves the filter (expiry: ``ended_at, last_activity``), so the ``SKIP LOCKED`` claim walks that
    index and stops at the batch's last row (docs/benchmarks.md, "The expiry claim at scale")."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    options = {
        "reason": reason,
        "revoke_tokens": revoke_tokens,
        "notify_clients": notify_clients,
        "dispatch": dispatch,
    }
    database = router.db_for_write(UserSession)
    options["unbound"] = UnboundTokensLook(batch_size)
    locking = UserSession.objects.active().order_by("pk")
    if isinstance(sessions, QuerySet):
        if sessions.query.is_sliced:  # a slice cannot be filtered further: take its ids as a list
            candidates = list(sessions.values_list("pk", flat=True))
        else:
            candidates = sessions.filter(ended_at__isnull=True)
    else:
        candidates = [s.pk for s in sessions if s.ended_at is None]

    if isinstance(candidates, list):  # an explicit list: in order, chunk by chunk, waiting for locks
        for start in range(0, len(candidates), batch_size):
            chunk = candidates[start : start + batch_size]
            if ended := _end_batch(
                locking.filter(any_of("pk", chunk)).select_for_update(), database, **options
            ):
                yield ended
        return

    query = candidates.query
    if len(query.alias_map) <= 1 and not (query.distinct or query.annotations or query.combinator):
        in_scope = candidates.order_by("pk")  # the sessions' own columns only: lock them directly
    else:  # joins (e.g. by client), annotations...: lock the matching rows, not the joined ones
        in_scope = locking.filter(pk__in=candidates.values("pk"))
    skip_locked = share_work and connections[database].features.has_select_for_update_skip_locked
    if skip_locked:
        # First pass: take only rows nobody holds, never waiting, so no deadlock. Ordered only by what an
        # index gives in order (claim_order), so no batch sorts the whole backlog.
        while ended := _end_batch(
            in_scope.order_by(*claim_order).select_for_update(skip_locked=True)[:batch_size],
            database,
            **options,
        ):
            yield ended
    while True:  # what is left: wait for each row's lock (in pk order), skip those ended meanwhile
        ended = _end_batch(in_scope.select_for_update()[:batch_size], database, **options)
        if ended:
            yield ended
        elif not in_scope.exists():
            break


class UnboundTokensLook:
    """Whether a bulk run's batches still look for their users' tokens from before the app
    (``REVOKE_UNBOUND_TOKENS``). That look reads the batch's users' tokens against every binding: the
    batch's biggest statement once no such token is left. So after its first full batch a run asks once
    whether any exists at all (``any_revocable_unbound_tokens``); when none does, none can appear, and
    the later batches skip the look. A run of one batch (a logout, a few expired sessions) never asks."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.needed = app_settings.REVOKE_UNBOUND_TOKENS
        self.asked = False

    def after_batch(self, claimed: int) -> None:
        if self.needed and not self.asked and claimed >= self.batch_size:
            self.asked = True
            self.needed = any_revocable_unbound_tokens()


def _end_batch(
    claim: QuerySet, database: str, *, dispatch: bool, unbound: UnboundTokensLook, **options
) -> list[EndedSession]:
    """One transaction: claim the rows, end those still active."""
    with transaction.atomic(using=database):
        claimed = [s for s in claim if s.ended_at is None]
        ended = (
            _end_claimed(claimed, dispatch=dispatch, look_for_unbound=unbound.needed, **options)
            if claimed
            else []
        )
    unbound.after_batch(len(claimed))
    return ended


def _end_claimed(
    claimed: list[UserSession],
    *,
    reason: str,
    revoke_tokens: bool,
    notify_clients: bool,
    dispatch: bool = True,
    look_for_unbound: bool = True,
) -> list[EndedSession]:
    """THE way sessions end: ``claimed`` are active sessions whose rows this transaction has locked.
    A constant number of statements whatever the number of sessions, clients and tokens."""
    now = timezone.now()
    by_pk = {s.pk: s for s in claimed}
    # The upstream ID token is only needed for the redirect that follows; the caller read it before.
    UserSession.objects.filter(any_of("pk", by_pk)).update(
        ended_at=now, end_reason=reason, upstream_id_token=""
    )
    results: dict[int, EndedSession] = {}
    for user_session in claimed:
        user_session.ended_at, user_session.end_reason = now, reason
        results[user_session.pk] = EndedSession(user_session=user_session, ended_now=True)
    clients = batch_ending_clients(list(by_pk)) if revoke_tokens or notify_clients else {}
    if revoke_tokens:
        coordinated_apps: set[int] = set()
        for pk, session_clients in clients.items():
            coordinated = [c for c in session_clients if c.coordinated]
            results[pk].revoked_client_ids = sorted(c.client_id for c in coordinated)
            coordinated_apps.update(c.application_id for c in coordinated)
        revoking = [pk for pk, result in results.items() if result.revoked_client_ids]
        totals, per_session = revoke_sessions_tokens(
            revoking, coordinated_apps, count_per_session=len(revoking) > 1
        )
        if len(revoking) == 1:
            per_session = {revoking[0]: totals}
        for pk, counts in per_session.items():
            results[pk].counts = counts
        if look_for_unbound and app_settings.REVOKE_UNBOUND_TOKENS:
            _revoke_unbound(claimed, results)
    notified = [
        pk
        for pk, session_clients in clients.items()
        if any(c.backchannel_logout_uri for c in session_clients)
    ]
    if notify_clients and notified:
        queued = notifications.queue_backchannel_for_sessions(notified, reason=reason)
        for pk, ids in queued.items():
            results[pk].notification_ids = ids
    ended = list(results.values())
    transaction.on_commit(
        lambda: _after_commit(ended, dispatch=dispatch), using=router.db_for_write(UserSession)
    )
    return ended


def _revoke_unbound(claimed: list[UserSession], results: dict[int, EndedSession]) -> None:
    """Tokens from before the app was installed belong to no session: DOT's logout would have deleted
    them, so they end with any session of their user (docs/adopting.md). One look-up for all users of
    the batch (``clients_with_unbound_tokens`` for a set of users), then the revocation for each user
    who has such tokens (a transitional state); they are counted with the user's first session."""
    first_of_user: dict[int, UserSession] = {}
    for user_session in claimed:
        first_of_user.setdefault(user_session.user_id, user_session)
    if len(first_of_user) == 1:
        (user_id,) = first_of_user
        found = {user_id: clients_with_unbound_tokens(user_id)}
    else:
        found = users_with_unbound_tokens(list(first_of_user))
    for user_id, unbound in found.items():
        if not unbound:
            continue
        result = results[first_of_user[user_id].pk]
        result.counts.add(revoke_unbound_tokens(user_id, unbound))
        result.revoked_client_ids = sorted({*result.revoked_client_ids, *unbound.values()})


def users_with_unbound_tokens(user_ids: list[int]) -> dict[int, dict[int, str]]:
    """``clients_with_unbound_tokens`` for several users in one statement: {user pk: {application pk:
    client_id}} for the users that have any."""
    access, refresh = (
        revocable_queryset(kind, user_id__in=user_ids)
        .filter(coordinated_browser_client("application__"))
        .order_by()
        .values_list("user_id", "application_id", "application__client_id")
        for kind in ("access_tokens", "refresh_tokens")
    )
    found: dict[int, dict[int, str]] = {}
    for user_id, application_id, client_id in access.union(refresh):
        found.setdefault(user_id, {})[application_id] = client_id
    return found


def _after_commit(ended: list[EndedSession], *, dispatch: bool = True) -> None:
    """Signals (per session), then one hand-off of every notification to delivery. The sessions have
    ended and the outbox is committed: a failing receiver or an unreachable Celery broker must not turn
    the logout into an error (the sweeper sends later)."""
    from .outbox import dispatch as deliver

    for result in ended:
        try:
            _send_ended_signals(result)
        except Exception:
            logger.exception(
                "django_idp_logout: a signal receiver failed for session %s", result.user_session.pk
            )
    if not dispatch:
        return
    try:
        deliver([pk for result in ended for pk in result.notification_ids])
    except Exception:
        logger.exception(
            "django_idp_logout: handing %d sessions' notifications to delivery failed", len(ended)
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
