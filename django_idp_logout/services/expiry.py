"""Ending sessions past their idle (``SESSION_IDLE_TIMEOUT``) or absolute (``SESSION_ABSOLUTE_TIMEOUT``)
lifetime, in batches, safely on several nodes at once.

Each batch claims its rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` where the database supports it
(PostgreSQL), so two nodes never process the same session, and ends them with the set-based
``iter_end_sessions``: a constant number of statements per batch, like every other path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from ..conf import app_settings
from ..models import EndReason, UserSession
from .sessions import DEFAULT_BATCH_SIZE, iter_end_sessions


def expired_sessions_filter(now=None) -> Q | None:
    """Active sessions past a timeout, or None when no timeout is configured."""
    now = now or timezone.now()
    condition = Q()
    if app_settings.SESSION_IDLE_TIMEOUT:
        condition |= Q(last_activity__lte=now - timedelta(seconds=app_settings.SESSION_IDLE_TIMEOUT))
    if app_settings.SESSION_ABSOLUTE_TIMEOUT:
        condition |= Q(created_at__lte=now - timedelta(seconds=app_settings.SESSION_ABSOLUTE_TIMEOUT))
    return condition or None


def claim_order() -> tuple[str, ...]:
    """The order a batch is claimed in: the columns of the index serving the one timeout set,
    (ended_at, last_activity) or (ended_at, created_at), so PostgreSQL walks that index from
    ``ended_at IS NULL`` and stops at the batch's last row. Unordered it scans the session table for
    matches, ordered by the timestamp alone it sorts the whole backlog per batch (docs/benchmarks.md,
    "The expiry claim at scale"). With both timeouts the filter is an OR of the two indexes: no order."""
    idle, absolute = app_settings.SESSION_IDLE_TIMEOUT, app_settings.SESSION_ABSOLUTE_TIMEOUT
    if idle and not absolute:
        return ("ended_at", "last_activity")
    if absolute and not idle:
        return ("ended_at", "created_at")
    return ()


def expire_sessions(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    dispatch: bool = True,
) -> int:
    """End every expired session, a batch per transaction; returns how many this call ended."""
    condition = expired_sessions_filter()
    if condition is None:
        return 0
    total = 0
    for ended in iter_end_sessions(
        UserSession.objects.filter(condition),
        reason=EndReason.SESSION_EXPIRATION,
        batch_size=batch_size,
        share_work=True,
        dispatch=dispatch,
        claim_order=claim_order(),
    ):
        total += len(ended)
        if progress:
            progress(total)
    return total
