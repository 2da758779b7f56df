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
    ):
        total += len(ended)
        if progress:
            progress(total)
    return total
