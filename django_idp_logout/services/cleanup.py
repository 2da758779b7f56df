"""Housekeeping: ended sessions (with their bindings, clients and outbox rows) and used upstream logout
tokens are kept for a while for the admin and for audits (``CLEANUP_RETENTION_DAYS``), then deleted
in batches.

Each batch costs the same few statements whatever its size: one SELECT of the sessions' ids, then one
DELETE per table that hangs on them and one for the sessions, in one transaction. (Django's
``QuerySet.delete()`` would load every dependent row first and delete them in chunks.) Delivered
notifications past the retention go too, also when their session is kept because another of its
notifications is still pending.

DOT's own ``cleartokens`` removes expired tokens; their bindings go with them (foreign keys cascade).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import models, router, transaction
from django.utils import timezone

from ..conf import app_settings
from ..models import BackchannelNotification, NotificationStatus, UpstreamLogoutToken, UserSession


@dataclass
class CleanupCounts:
    sessions: int = 0
    notifications: int = 0
    upstream_tokens: int = 0


def _raw_delete(queryset) -> int:
    return queryset._raw_delete(router.db_for_write(queryset.model)) or 0


def _dependants() -> list[models.ForeignObjectRel] | None:
    """The tables that hang on a session, when each can go with one DELETE: cascading foreign keys
    from tables nothing else points at. None: something else depends on them (use the collector)."""
    relations = [rel for rel in UserSession._meta.related_objects if not rel.many_to_many]
    for rel in relations:
        if rel.on_delete is not models.CASCADE or rel.related_model._meta.related_objects:
            return None
    return relations


def delete_sessions(ids: list[int]) -> int:
    """Delete these sessions and everything that hangs on them; call inside a transaction."""
    dependants = _dependants()
    if dependants is None:
        return UserSession.objects.filter(pk__in=ids).delete()[1].get(UserSession._meta.label, 0)
    for rel in dependants:
        _raw_delete(rel.related_model._base_manager.filter(**{f"{rel.field.name}__in": ids}))
    return _raw_delete(UserSession.objects.filter(pk__in=ids))


def cleanup(
    *,
    ended_before_days: int | None = None,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> CleanupCounts:
    """Delete sessions ended more than ``ended_before_days`` (default ``CLEANUP_RETENTION_DAYS``) days
    ago whose notifications are settled (delivered or given up), delivered notifications as old, and
    upstream logout tokens past their expiry."""
    days = app_settings.CLEANUP_RETENTION_DAYS if ended_before_days is None else ended_before_days
    cutoff = timezone.now() - timedelta(days=days)
    counts = CleanupCounts()
    database = router.db_for_write(UserSession)
    # Keyset batches in primary-key order: each old session is read once per run. The sessions with a
    # pending notification are looked up by the batch's ids (the notifications' session index), not by
    # an anti-join in the batch query, which PostgreSQL may plan as a scan of every pending notification
    # for every session read (a million-session run after a mass expiry took 2 s per batch).
    old_enough = UserSession.objects.filter(ended_at__lt=cutoff).order_by("pk")
    after = 0
    while True:
        chunk = list(old_enough.filter(pk__gt=after).values_list("pk", flat=True)[:batch_size])
        if not chunk:
            break
        after = chunk[-1]
        with transaction.atomic(using=database):
            unsettled = set(
                BackchannelNotification.objects.filter(
                    user_session_id__in=chunk, status=NotificationStatus.PENDING
                ).values_list("user_session_id", flat=True)
            )
            if ids := [pk for pk in chunk if pk not in unsettled]:
                counts.sessions += delete_sessions(ids)
        if progress:
            progress(counts.sessions)
        if len(chunk) < batch_size:
            break
    delivered_and_old = BackchannelNotification.objects.filter(
        status=NotificationStatus.DELIVERED, delivered_at__lt=cutoff
    )
    while True:
        ids = list(delivered_and_old.order_by().values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        counts.notifications += _raw_delete(BackchannelNotification.objects.filter(pk__in=ids))
        if len(ids) < batch_size:
            break
    counts.upstream_tokens = _raw_delete(UpstreamLogoutToken.objects.filter(expires_at__lt=timezone.now()))
    return counts
