"""Telling clients that a session ended: front-channel URLs and the back-channel outbox.

Front-channel (OIDC Front-Channel Logout 1.0): ``frontchannel_urls`` gives the iframe URLs for the
logged-out page. Back-channel (OIDC Back-Channel Logout 1.0): ``queue_backchannel`` writes one outbox
row per (session, client with a back-channel URI) inside the transaction that ends the session;
``send_notification`` makes one attempt, claimed atomically so two workers never send the same attempt;
failures are retried with exponential backoff up to ``BACKCHANNEL_MAX_ATTEMPTS``, each attempt with a
fresh ``jti``/``iat``/``exp``.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.db.models import F
from django.utils import timezone

from .. import signals
from ..conf import app_settings
from ..models import (
    BackchannelNotification,
    ClientLogoutSettings,
    EndReason,
    NotificationStatus,
    SessionClient,
    UserSession,
)
from ..oauth.hints import issuer
from .logout_token import logout_token_claims, sign_logout_token
from .subject import subject_for

# --- Front-channel ----------------------------------------------------------------------------------


def frontchannel_urls(*, sid: str | None, client_ids: list[str]) -> list[str]:
    """One iframe URL per client of the session with a ``frontchannel_logout_uri``: the registered URI
    (its query kept) plus ``iss`` and ``sid`` when the client requires the session (both or neither)."""
    if not client_ids:
        return []
    rows = ClientLogoutSettings.objects.filter(
        application__client_id__in=client_ids, frontchannel_logout_uri__gt=""
    ).order_by("application__client_id")
    urls = []
    for row in rows:
        uri = row.frontchannel_logout_uri
        if row.frontchannel_logout_session_required and sid:
            separator = "&" if urlsplit(uri).query else ("" if uri.endswith("?") else "?")
            uri = f"{uri}{separator}{urlencode({'iss': issuer(), 'sid': sid})}"
        urls.append(uri)
    return urls


def frame_origins(urls: list[str]) -> list[str]:
    """The distinct origins of the iframe URLs, for the page's ``Content-Security-Policy: frame-src``."""
    origins = []
    for url in urls:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in origins:
            origins.append(origin)
    return origins


# --- Back-channel outbox -----------------------------------------------------------------------------


def queue_backchannel(
    user_session: UserSession, *, reason: str, targets: list[tuple[int, str]] | None = None
) -> list[int]:
    """Write the outbox rows for every client of the session with a back-channel URI (coordinated or
    not), once per (session, client). Call inside the transaction that ends the session, which holds
    the session's row lock: it runs once per session, so no row can exist yet.

    ``targets`` are (application pk, back-channel URI) pairs when the caller has read them already."""
    if targets is None:
        targets = SessionClient.objects.filter(
            user_session=user_session, application__logout_settings__backchannel_logout_uri__gt=""
        ).values_list("application_id", "application__logout_settings__backchannel_logout_uri")
    queued = queue_backchannel_batch(
        [(user_session.pk, app_id, uri) for app_id, uri in targets], reason=reason
    )
    return queued.get(user_session.pk, [])


def queue_backchannel_batch(targets: list[tuple[int, int, str]], *, reason: str) -> dict[int, list[int]]:
    """Write the outbox rows of a batch of ending sessions in one INSERT (split only where the database
    limits parameters): ``targets`` are (session pk, application pk, back-channel URI) triples. Returns
    the new notification ids by session pk. Call inside the transaction that locked the sessions.

    Nothing is queued for expired sessions unless ``EXPIRED_SESSIONS_TRIGGER_BACKCHANNEL_LOGOUT``."""
    if (
        reason == EndReason.SESSION_EXPIRATION
        and not app_settings.EXPIRED_SESSIONS_TRIGGER_BACKCHANNEL_LOGOUT
    ):
        return {}
    rows = [
        BackchannelNotification(user_session_id=session_id, application_id=app_id, uri=uri, reason=reason)
        for session_id, app_id, uri in targets
    ]
    if not rows:
        return {}
    created = BackchannelNotification.objects.bulk_create(rows)
    if all(row.pk is not None for row in created):  # PostgreSQL, SQLite 3.35+, MariaDB 10.5+
        pairs = [(row.user_session_id, row.pk) for row in created]
    else:
        pairs = BackchannelNotification.objects.filter(
            user_session_id__in={row.user_session_id for row in rows},
            status=NotificationStatus.PENDING,
            attempts=0,
        ).values_list("user_session_id", "pk")
    by_session: dict[int, list[int]] = {}
    for session_id, pk in pairs:
        by_session.setdefault(session_id, []).append(pk)
    return by_session


def _claim(notification_id: int) -> BackchannelNotification | None:
    """Take the next attempt of a due notification, or None if it is not due or another worker has it.

    One conditional UPDATE: it moves ``next_attempt_at`` past the attempt's lease, so a concurrent worker
    (thread, Celery task or the sweeper, on any database) finds nothing to claim.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=app_settings.BACKCHANNEL_TIMEOUT * 2 + 30)
    claimed = BackchannelNotification.objects.filter(
        pk=notification_id, status=NotificationStatus.PENDING, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=lease)
    if not claimed:
        return None
    return (
        BackchannelNotification.objects.select_related(
            "user_session__user", "application", "application__logout_settings"
        )
        .filter(pk=notification_id)
        .first()
    )


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: BACKCHANNEL_RETRY_DELAY, x2 per attempt, capped at one hour."""
    return timedelta(seconds=min(app_settings.BACKCHANNEL_RETRY_DELAY * 2 ** max(attempts - 1, 0), 3600))


def send_notification(notification_id: int) -> bool | None:
    """Make one delivery attempt if due. True: delivered; False: failed; None: nothing to do."""
    from ..delivery.http import post_logout_token

    notification = _claim(notification_id)
    if notification is None:
        return None
    application = notification.application
    settings_row = getattr(application, "logout_settings", None)
    user_session = notification.user_session
    claims = logout_token_claims(
        application=application,
        sub=subject_for(user_session.user, application),
        sid=user_session.sid,
        reason=notification.reason,
    )
    try:
        token = sign_logout_token(
            application=application,
            claims=claims,
            typ=getattr(settings_row, "logout_token_typ", "logout+jwt"),
        )
    except ImproperlyConfigured as exc:
        return _record_failure(notification, None, f"cannot sign: {exc}"[:255], final=True)
    result = post_logout_token(notification.uri, token)
    if result.ok:
        BackchannelNotification.objects.filter(pk=notification.pk).update(
            status=NotificationStatus.DELIVERED,
            delivered_at=timezone.now(),
            last_status_code=result.status_code,
            last_error="",
        )
        signals.backchannel_logout_delivered.send(
            sender=BackchannelNotification, notification=notification, status_code=result.status_code
        )
        return True
    return _record_failure(notification, result.status_code, result.error[:255])


def _record_failure(notification, status_code, error: str, *, final: bool = False) -> bool:
    final = final or notification.attempts >= app_settings.BACKCHANNEL_MAX_ATTEMPTS
    BackchannelNotification.objects.filter(pk=notification.pk).update(
        status=NotificationStatus.FAILED if final else NotificationStatus.PENDING,
        next_attempt_at=timezone.now() + retry_delay(notification.attempts),
        last_status_code=status_code,
        last_error=error,
    )
    signals.backchannel_logout_failed.send(
        sender=BackchannelNotification, notification=notification, error=error, final=final
    )
    return False


def due_notification_ids(*, limit: int = 500) -> list[int]:
    """Ids of pending notifications whose next attempt is due. On PostgreSQL the rows are read with
    ``FOR UPDATE SKIP LOCKED`` so concurrent sweepers split the work; the claim is what guarantees
    that one attempt is sent once."""
    database = router.db_for_write(BackchannelNotification)
    due = BackchannelNotification.objects.filter(
        status=NotificationStatus.PENDING, next_attempt_at__lte=timezone.now()
    ).order_by("next_attempt_at")
    with transaction.atomic(using=database):
        if connections[database].features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        return list(due.values_list("pk", flat=True)[:limit])


def deliver_due(*, limit: int = 500) -> dict[str, int]:
    """Send everything due now, through the configured strategy's parallelism where it has one."""
    ids = due_notification_ids(limit=limit)
    if app_settings.BACKCHANNEL_DELIVERY == "thread":
        from ..delivery.thread import dispatch

        outcomes = [future.result() for future in dispatch(ids).result()]
    else:
        outcomes = [send_notification(i) for i in ids]
    return {
        "due": len(ids),
        "delivered": sum(1 for o in outcomes if o is True),
        "failed": sum(1 for o in outcomes if o is False),
    }


def retry_now(queryset) -> list[int]:
    """Make failed or pending notifications due at once (admin action); returns their ids."""
    ids = list(queryset.exclude(status=NotificationStatus.DELIVERED).values_list("pk", flat=True))
    BackchannelNotification.objects.filter(pk__in=ids).update(
        status=NotificationStatus.PENDING, next_attempt_at=timezone.now()
    )
    return ids
