"""Housekeeping: ended sessions (with their bindings, clients and outbox rows) and used upstream logout
tokens are kept for a while for the admin and for audits, then deleted in batches.

DOT's own ``cleartokens`` removes expired tokens; their bindings go with them (foreign keys cascade).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import router, transaction
from django.utils import timezone

from ..models import NotificationStatus, UpstreamLogoutToken, UserSession


@dataclass
class CleanupCounts:
    sessions: int = 0
    upstream_tokens: int = 0


def cleanup(*, ended_before_days: int, batch_size: int = 1000, progress: Callable[[int], None] | None = None):
    """Delete sessions ended more than ``ended_before_days`` days ago whose notifications are settled
    (delivered or given up), and upstream logout tokens past their expiry."""
    cutoff = timezone.now() - timedelta(days=ended_before_days)
    counts = CleanupCounts()
    database = router.db_for_write(UserSession)
    while True:
        ids = list(
            UserSession.objects.filter(ended_at__lt=cutoff)
            .exclude(notifications__status=NotificationStatus.PENDING)
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            break
        with transaction.atomic(using=database):
            UserSession.objects.filter(pk__in=ids).delete()
        counts.sessions += len(ids)
        if progress:
            progress(counts.sessions)
        if len(ids) < batch_size:
            break
    counts.upstream_tokens, _ = UpstreamLogoutToken.objects.filter(expires_at__lt=timezone.now()).delete()
    return counts
