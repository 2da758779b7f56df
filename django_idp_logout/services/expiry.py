"""Ending sessions past their idle (``SESSION_IDLE_TIMEOUT``) or absolute (``SESSION_ABSOLUTE_TIMEOUT``)
lifetime, in batches, safely on several nodes at once.

Each batch claims its rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` where the database supports it
(PostgreSQL), so two nodes never process the same session; each session then ends through
``end_session`` (idempotent), like every other path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db import connections, router, transaction
from django.db.models import Q
from django.utils import timezone

from ..conf import app_settings
from ..models import EndReason, UserSession
from .sessions import end_session


def expired_sessions_filter(now=None) -> Q | None:
    """Active sessions past a timeout, or None when no timeout is configured."""
    now = now or timezone.now()
    condition = Q()
    if app_settings.SESSION_IDLE_TIMEOUT:
        condition |= Q(last_activity__lte=now - timedelta(seconds=app_settings.SESSION_IDLE_TIMEOUT))
    if app_settings.SESSION_ABSOLUTE_TIMEOUT:
        condition |= Q(created_at__lte=now - timedelta(seconds=app_settings.SESSION_ABSOLUTE_TIMEOUT))
    return condition or None


def expire_sessions(*, batch_size: int = 500, progress: Callable[[int], None] | None = None) -> int:
    """End every expired session; returns how many this call ended."""
    condition = expired_sessions_filter()
    if condition is None:
        return 0
    database = router.db_for_write(UserSession)
    skip_locked = connections[database].features.has_select_for_update_skip_locked
    total = 0
    while True:
        with transaction.atomic(using=database):
            batch = UserSession.objects.active().filter(condition).order_by("pk")
            batch = batch.select_for_update(skip_locked=skip_locked) if skip_locked else batch
            claimed = list(batch[:batch_size])
            for user_session in claimed:
                if end_session(user_session=user_session, reason=EndReason.SESSION_EXPIRATION).ended_now:
                    total += 1
        if progress:
            progress(total)
        if len(claimed) < batch_size:
            return total
