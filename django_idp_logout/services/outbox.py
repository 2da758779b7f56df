"""The back-channel outbox, sending side: what to send now, and what became of it.

``notifications.queue_backchannel`` writes one row per (session, client) in the transaction that ends
the session. This module decides what goes out and records the outcome; the delivery package only sends
what it is handed (``delivery.sender.Message``) and reports back (``Outcome``):

- ``Outbox.claim`` takes a batch of due rows in one conditional UPDATE that moves their next attempt
  past a lease and stamps them with this claim's token (so concurrent workers, on any database, never
  send the same attempt), then signs one logout token per row with a fresh ``jti``/``iat``/``exp``.
  Clients paused by the circuit breaker are not claimed: their rows stay due.
- ``Outbox.report`` records outcomes in a few grouped UPDATEs: delivered; failed (retried with
  exponential backoff up to ``BACKCHANNEL_MAX_ATTEMPTS``); released (never attempted: the attempt is
  given back). It keeps each client's circuit (``BackchannelCircuit``) and sends the signals.
- ``dispatch`` hands a logout's fresh rows to the configured strategy; ``deliver_due`` and
  ``run_worker`` serve the sweeper command, Celery beat and ``idp_logout_deliver --worker``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.db.models import F, Subquery
from django.utils import timezone
from oauth2_provider.models import AbstractApplication, get_application_model

from .. import signals
from ..conf import app_settings
from ..delivery import hand_off
from ..delivery.sender import Limits, Message, Outcome, run_coroutine, send_batch
from ..delivery.worker import Totals
from ..delivery.worker import run_worker as _run_worker
from ..models import BackchannelCircuit, BackchannelNotification, NotificationStatus
from .logout_token import logout_token_claims, sign_logout_token
from .subject import subject_for, validator_computes_subject

MAX_DELAY = 3600


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: BACKCHANNEL_RETRY_DELAY, x2 per attempt, capped at one hour."""
    return timedelta(seconds=min(app_settings.BACKCHANNEL_RETRY_DELAY * 2 ** max(attempts - 1, 0), MAX_DELAY))


def circuit_pause(pauses: int) -> float:
    """How long a client's circuit stays open: BACKCHANNEL_CIRCUIT_PAUSE, x2 per pause in a row."""
    return float(min(app_settings.BACKCHANNEL_CIRCUIT_PAUSE * 2 ** max(pauses - 1, 0), MAX_DELAY))


def paused_client_ids(now=None) -> list[int]:
    """Applications whose back-channel circuit is open now (for the claim, the status command, admin)."""
    return list(
        BackchannelCircuit.objects.filter(paused_until__gt=now or timezone.now()).values_list(
            "application_id", flat=True
        )
    )


def _database() -> str:
    return router.db_for_write(BackchannelNotification)


class Outbox:
    """A claim-and-report session: the ``Source`` of ``delivery.worker`` and of one-shot batches.
    ``ids`` restricts it to given rows (a logout's own hand-off)."""

    def __init__(self, *, ids: list[int] | None = None) -> None:
        self.ids = ids
        self.claimed: dict[int, Claimed] = {}

    # --- claim -----------------------------------------------------------------------------------

    def claim(self, limit: int, exclude: set[int] | frozenset[int] = frozenset()) -> list[Message]:
        now = timezone.now()
        lease = now + timedelta(seconds=_lease_seconds())
        token = uuid.uuid4().hex
        due = BackchannelNotification.objects.filter(
            status=NotificationStatus.PENDING, next_attempt_at__lte=now
        )
        if self.ids is not None:
            due = due.filter(pk__in=self.ids)
        skip = set(exclude) | set(paused_client_ids(now))
        if skip:
            due = due.exclude(application_id__in=skip)
        features = connections[_database()].features
        claimed = BackchannelNotification.objects.filter(
            status=NotificationStatus.PENDING, next_attempt_at__lte=now
        )
        stamp = {"attempts": F("attempts") + 1, "next_attempt_at": lease, "claim_token": token}
        if features.has_select_for_update_skip_locked or not features.allow_sliced_subqueries_with_in:
            with transaction.atomic(using=_database()):
                picked = due.order_by("next_attempt_at")
                if features.has_select_for_update_skip_locked:
                    picked = picked.select_for_update(skip_locked=True)  # concurrent workers split the rows
                picked_ids = list(picked.values_list("pk", flat=True)[:limit])
                if not picked_ids:
                    return []
                claimed.filter(pk__in=picked_ids).update(**stamp)
        else:
            # SQLite: one statement. Reading first and then writing in one transaction fails at once
            # ("database is locked", no waiting) when another connection is committing meanwhile, which
            # in a web process with thread delivery is the request that just ended the session. A single
            # UPDATE waits for the lock like any other write.
            picked = due.order_by("next_attempt_at").values("pk")[:limit]
            if not claimed.filter(pk__in=Subquery(picked)).update(**stamp):
                return []
            picked_ids = None
        # Only the columns a token needs (model instances, their datetimes and the joined user and
        # client rows cost more CPU than signing the token): the applications once per claim, users only
        # when the validator computes the ``sub`` (``subject_for``), once per (user, client).
        # Every row of this claim is due at ``lease`` exactly: the (status, next_attempt_at) index finds them.
        rows = BackchannelNotification.objects.filter(
            status=NotificationStatus.PENDING, next_attempt_at=lease, claim_token=token
        )
        if picked_ids is not None:
            rows = rows.filter(pk__in=picked_ids)
        rows = rows.values_list(*CLAIMED_COLUMNS)
        return self._sign([Claimed(*row) for row in rows])

    def _sign(self, rows: list[Claimed]) -> list[Message]:
        messages, unsignable = [], []
        applications = _applications({row.application_id for row in rows})
        subjects = _subjects({(row.user_id, row.application_id) for row in rows}, applications)
        for row in rows:
            application = applications.get(row.application_id)
            if application is None:  # deleted since the claim (its rows go with it): nothing to send
                continue
            claims = logout_token_claims(
                application=application,
                sub=subjects[row.user_id, row.application_id],
                sid=row.sid,
                reason=row.reason,
            )
            settings_row = getattr(application, "logout_settings", None)
            try:
                token = sign_logout_token(
                    application=application,
                    claims=claims,
                    typ=getattr(settings_row, "logout_token_typ", "logout+jwt"),
                )
            except ImproperlyConfigured as exc:
                unsignable.append((row, f"cannot sign: {exc}"[:255]))
                continue
            self.claimed[row.pk] = row
            messages.append(Message(row.pk, row.application_id, row.uri, token))
        for row, error in unsignable:
            self._failed(row, None, error, final=True)
        return messages

    # --- report ----------------------------------------------------------------------------------

    def report(self, outcomes: list[Outcome]) -> dict[int, float]:
        """Record what became of the claimed rows; returns the clients paused now -> seconds."""
        if not outcomes:
            return {}
        now = timezone.now()
        delivered: dict[int, list[int]] = defaultdict(list)
        released: list[int] = []
        per_client: dict[int, list[bool]] = defaultdict(list)
        last_error: dict[int, str] = {}
        for outcome in outcomes:
            row = self.claimed.pop(outcome.message.notification_id, None)
            if row is None:
                continue
            result = outcome.result
            if result is None:
                released.append(row.pk)
                continue
            per_client[row.application_id].append(result.ok)
            if result.ok:
                delivered[result.status_code].append(row.pk)
            else:
                last_error[row.application_id] = result.error[:255]
                self._failed(row, result.status_code, result.error[:255], now=now)
        for status_code, ids in delivered.items():
            BackchannelNotification.objects.filter(pk__in=ids).update(
                status=NotificationStatus.DELIVERED,
                delivered_at=now,
                last_status_code=status_code,
                last_error="",
                claim_token="",
            )
        if released:  # not attempted: give the attempt back, due at once (the claim skips paused clients)
            BackchannelNotification.objects.filter(pk__in=released).update(
                attempts=F("attempts") - 1, next_attempt_at=now, claim_token=""
            )
        # Instances for the receivers only when there are receivers (as Django's deletion collector
        # does): read back after the update, so they show the row as recorded.
        if delivered and signals.backchannel_logout_delivered.has_listeners(BackchannelNotification):
            instances = _instances([pk for ids in delivered.values() for pk in ids])
            for status_code, ids in delivered.items():
                for notification in (instances[pk] for pk in ids if pk in instances):
                    signals.backchannel_logout_delivered.send(
                        sender=BackchannelNotification, notification=notification, status_code=status_code
                    )
        return _update_circuits(per_client, last_error, now)

    def _failed(self, row: Claimed, status_code, error: str, *, final: bool = False, now=None) -> None:
        now = now or timezone.now()
        final = final or row.attempts >= app_settings.BACKCHANNEL_MAX_ATTEMPTS
        BackchannelNotification.objects.filter(pk=row.pk).update(
            status=NotificationStatus.FAILED if final else NotificationStatus.PENDING,
            next_attempt_at=now + retry_delay(row.attempts),
            last_status_code=status_code,
            last_error=error,
            claim_token="",
        )
        if signals.backchannel_logout_failed.has_listeners(BackchannelNotification):
            notification = _instances([row.pk]).get(row.pk)
            if notification is not None:
                signals.backchannel_logout_failed.send(
                    sender=BackchannelNotification, notification=notification, error=error, final=final
                )

    def resumed(self, clients: set[int]) -> set[int]:
        """Of ``clients`` (paused by this worker after a report said so), those whose circuit has been
        closed since: an operator resumed them (admin action) or another process delivered to them."""
        if not clients:
            return set()
        return set(
            BackchannelCircuit.objects.filter(
                application_id__in=clients, paused_until=None, pauses=0
            ).values_list("application_id", flat=True)
        )

    def close(self) -> None:
        connections.close_all()


class Claimed(NamedTuple):
    """What the outbox keeps of a claimed row between its claim and its report."""

    pk: int
    application_id: int
    uri: str
    reason: str
    attempts: int  # this attempt's number (the claim counted it)
    sid: str
    user_id: int


# The columns of ``Claimed``, in its order.
CLAIMED_COLUMNS = (
    "pk",
    "application_id",
    "uri",
    "reason",
    "attempts",
    "user_session__sid",
    "user_session__user_id",
)


def _applications(ids: set[int]) -> dict[int, AbstractApplication]:
    """The claim's clients, each with its logout settings, in one query."""
    return get_application_model().objects.select_related("logout_settings").in_bulk(ids)


def _subjects(pairs: set[tuple[int, int]], applications) -> dict[tuple[int, int], str | None]:
    """The ``sub`` of each (user, client) of a claim, as ID tokens carry it (``subject_for``); the users
    are loaded (in one query) only when the validator computes it."""
    if not pairs:
        return {}
    if not validator_computes_subject():
        return {(user_id, client): str(user_id) for user_id, client in pairs}
    users = get_user_model().objects.in_bulk({user_id for user_id, _ in pairs})
    return {
        (user_id, client): subject_for(users[user_id], applications.get(client)) if user_id in users else None
        for user_id, client in pairs
    }


def _instances(ids: list[int]) -> dict[int, BackchannelNotification]:
    """Notifications as the signals hand them to receivers: with their session, user and client."""
    return BackchannelNotification.objects.select_related(
        "user_session__user", "application", "application__logout_settings"
    ).in_bulk(ids)


def _lease_seconds() -> int:
    return app_settings.BACKCHANNEL_TIMEOUT * 2 + 30


def _update_circuits(per_client: dict[int, list[bool]], last_error: dict[int, str], now) -> dict[int, float]:
    """Close the circuit of clients that accepted a token; count failures in a row of the others, keep
    their last error (shown in the admin: why a client is paused), and open their circuit (pause them)
    at ``BACKCHANNEL_CIRCUIT_FAILURES``."""
    healthy = [client for client, results in per_client.items() if any(results)]
    if healthy:
        BackchannelCircuit.objects.filter(application_id__in=healthy).exclude(
            consecutive_failures=0, pauses=0, paused_until=None
        ).update(consecutive_failures=0, pauses=0, paused_until=None, updated_at=now)
    paused: dict[int, float] = {}
    for client, results in per_client.items():
        trailing = len(results) - (max(i for i, ok in enumerate(results) if ok) + 1 if any(results) else 0)
        if not trailing:
            continue
        with transaction.atomic(using=_database()):
            circuit, _ = BackchannelCircuit.objects.select_for_update().get_or_create(application_id=client)
            circuit.consecutive_failures += trailing
            circuit.last_error = last_error.get(client, circuit.last_error)
            circuit.updated_at = now
            if circuit.consecutive_failures >= app_settings.BACKCHANNEL_CIRCUIT_FAILURES:
                circuit.pauses += 1
                seconds = circuit_pause(circuit.pauses)
                circuit.paused_until = now + timedelta(seconds=seconds)
                circuit.consecutive_failures = 0
                paused[client] = seconds
            circuit.save()
    return paused


# --- entry points ----------------------------------------------------------------------------------


@dataclass
class DeliveryCounts:
    due: int = 0
    delivered: int = 0
    failed: int = 0
    released: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "due": self.due,
            "delivered": self.delivered,
            "failed": self.failed,
            "released": self.released,
        }


def _send_claimed(outbox: Outbox, limit: int) -> DeliveryCounts:
    messages = outbox.claim(limit)
    outcomes = send_batch(messages, Limits.from_settings())
    outbox.report(outcomes)
    totals = Totals()
    totals.add(outcomes)
    return DeliveryCounts(
        due=len(messages), delivered=totals.delivered, failed=totals.failed, released=totals.released
    )


def deliver_ids(ids: list[int]) -> DeliveryCounts:
    """Claim, sign, send and record the given rows (those due and not paused), concurrently."""
    return _send_claimed(Outbox(ids=list(ids)), len(ids))


def dispatch(ids: list[int]) -> None:
    """Hand a committed logout's fresh rows to the configured strategy (after commit)."""
    hand_off(list(ids), deliver_ids)


def deliver_due(*, limit: int = 500) -> dict[str, int]:
    """One batch of whatever is due now (the sweeper): up to ``limit`` rows, sent concurrently."""
    return _send_claimed(Outbox(), limit).as_dict()


def send_notification(notification_id: int) -> bool | None:
    """One attempt at one row if due. True: delivered; False: failed or released; None: nothing due."""
    counts = deliver_ids([notification_id])
    if not counts.due:
        return None
    return counts.delivered == 1


def run_worker(
    *,
    batch: int | None = None,
    until_idle: bool = False,
    stop: asyncio.Event | None = None,
    progress=None,
    stop_on_signals: bool = False,
) -> Totals:
    """The ``--worker`` loop in this thread (blocks): claim, send, record until stopped (or idle)."""
    return run_coroutine(
        _run_worker(
            Outbox(),
            limits=Limits.from_settings(),
            batch=batch or app_settings.BACKCHANNEL_CLAIM_BATCH,
            until_idle=until_idle,
            idle_wait=app_settings.BACKCHANNEL_WORKER_POLL_INTERVAL,
            stop=stop,
            progress=progress,
            stop_on_signals=stop_on_signals,
        )
    )


def close_circuits(queryset) -> list[BackchannelCircuit]:
    """Resume clients now (admin action): close the given circuits that are open or counting failures
    (no pause, no failures or pauses in a row), so their due notifications are claimed again at once.
    The last error stays as the record of why they were paused. Returns the circuits that changed."""
    ids = list(queryset.values_list("pk", flat=True))
    with transaction.atomic(using=_database()):  # a worker's report may be updating the same rows
        changed = list(
            BackchannelCircuit.objects.select_for_update()
            .filter(pk__in=ids)
            .exclude(consecutive_failures=0, pauses=0, paused_until=None)
            .values_list("pk", flat=True)
        )
        BackchannelCircuit.objects.filter(pk__in=changed).update(
            consecutive_failures=0, pauses=0, paused_until=None, updated_at=timezone.now()
        )
    return list(BackchannelCircuit.objects.filter(pk__in=changed).select_related("application"))


def retry_now(queryset) -> list[int]:
    """Make failed or pending notifications due at once (admin action); returns their ids."""
    ids = list(queryset.exclude(status=NotificationStatus.DELIVERED).values_list("pk", flat=True))
    BackchannelNotification.objects.filter(pk__in=ids).update(
        status=NotificationStatus.PENDING, next_attempt_at=timezone.now()
    )
    return ids
