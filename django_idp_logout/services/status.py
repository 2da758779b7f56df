"""Where delivery stands: the backlog, failures per client, latency, paused clients.

One function computes it; ``manage.py idp_logout_status`` (text or ``--json``) and the admin's
notification list render it. Every figure is a bounded aggregate query (the indexes on
``(status, next_attempt_at)`` serve the backlog), so it is cheap enough to poll every minute.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q
from django.utils import timezone
from oauth2_provider.models import get_application_model

from ..models import BackchannelCircuit, BackchannelNotification, NotificationStatus

Application = get_application_model()
WINDOWS = {"last_hour": timedelta(hours=1), "last_day": timedelta(days=1)}


@dataclass
class WindowCounts:
    """Notifications created in a window, by what became of them so far."""

    delivered: int = 0
    failed: int = 0
    pending: int = 0


@dataclass
class ClientStatus:
    client_id: str
    name: str
    due: int
    pending: int
    last_hour: WindowCounts
    last_day: WindowCounts
    paused_until: datetime | None = None


@dataclass
class Latency:
    """From the end of the session (the outbox row's creation) to the client's 2xx answer."""

    delivered: int = 0
    p50_seconds: float | None = None
    p95_seconds: float | None = None


@dataclass
class DeliveryStatus:
    generated_at: datetime
    due: int
    not_due: int  # pending, next attempt later: in flight (claimed) or waiting for a retry
    in_flight: int  # claimed by a worker now
    oldest_due_age_seconds: float | None
    failed_last_hour: int
    failed_last_day: int
    latency_last_hour: Latency
    clients: list[ClientStatus] = field(default_factory=list)
    paused_clients: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        return _isoformat(data)


def _isoformat(value):
    if isinstance(value, dict):
        return {k: _isoformat(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_isoformat(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def paused_until_by_application() -> dict[int, datetime]:
    """Clients whose back-channel circuit is open (paused). The per-client circuit breaker keeps its
    state in ``BackchannelCircuit.paused_until``."""
    return dict(
        BackchannelCircuit.objects.filter(paused_until__gt=timezone.now()).values_list(
            "application_id", "paused_until"
        )
    )


def delivery_status(*, now: datetime | None = None, client_limit: int = 200) -> DeliveryStatus:
    now = now or timezone.now()
    hour_ago, day_ago = now - WINDOWS["last_hour"], now - WINDOWS["last_day"]
    notifications = BackchannelNotification.objects.all()
    pending = Q(status=NotificationStatus.PENDING)
    due = pending & Q(next_attempt_at__lte=now)
    failed = Q(status=NotificationStatus.FAILED)
    totals = notifications.aggregate(
        due=Count("pk", filter=due),
        not_due=Count("pk", filter=pending & Q(next_attempt_at__gt=now)),
        failed_last_hour=Count("pk", filter=failed & Q(created_at__gte=hour_ago)),
        failed_last_day=Count("pk", filter=failed & Q(created_at__gte=day_ago)),
        oldest_due=Min("created_at", filter=due),
        in_flight=Count("pk", filter=pending & Q(next_attempt_at__gt=now) & ~Q(claim_token="")),
    )
    paused = paused_until_by_application()
    window = {
        f"{name}_{state}": Count("pk", filter=Q(created_at__gte=since, status=state))
        for name, since in (("hour", hour_ago), ("day", day_ago))
        for state in NotificationStatus.values
    }
    rows = (
        notifications.filter(Q(created_at__gte=day_ago) | pending | Q(application_id__in=list(paused)))
        .values("application_id", "application__client_id", "application__name")
        .annotate(due=Count("pk", filter=due), pending=Count("pk", filter=pending), **window)
        .order_by("-due", "-pending", "application__client_id")[:client_limit]
    )
    clients = [
        ClientStatus(
            client_id=row["application__client_id"],
            name=row["application__name"] or "",
            due=row["due"],
            pending=row["pending"],
            last_hour=WindowCounts(**{s: row[f"hour_{s}"] for s in NotificationStatus.values}),
            last_day=WindowCounts(**{s: row[f"day_{s}"] for s in NotificationStatus.values}),
            paused_until=paused.get(row["application_id"]),
        )
        for row in rows
    ]
    oldest = totals["oldest_due"]
    return DeliveryStatus(
        generated_at=now,
        due=totals["due"],
        not_due=totals["not_due"],
        in_flight=totals["in_flight"],
        oldest_due_age_seconds=(now - oldest).total_seconds() if oldest else None,
        failed_last_hour=totals["failed_last_hour"],
        failed_last_day=totals["failed_last_day"],
        latency_last_hour=latency(since=hour_ago),
        clients=clients,
        paused_clients=sorted(
            Application.objects.filter(pk__in=list(paused)).values_list("client_id", flat=True)
        )
        if paused
        else [],
    )


def latency(*, since: datetime) -> Latency:
    """p50/p95 of (delivered_at - created_at) over notifications delivered since ``since``: a count and
    one ordered, offset read per percentile, on every database (no percentile functions needed)."""
    delivered = BackchannelNotification.objects.filter(
        status=NotificationStatus.DELIVERED, delivered_at__gte=since
    ).annotate(took=ExpressionWrapper(F("delivered_at") - F("created_at"), output_field=DurationField()))
    count = delivered.count()
    if not count:
        return Latency()

    def percentile(p: float) -> float:
        index = min(count - 1, max(0, math.ceil(p * count) - 1))  # nearest rank
        took = delivered.order_by("took").values_list("took", flat=True)[index]
        return took.total_seconds()

    return Latency(delivered=count, p50_seconds=percentile(0.50), p95_seconds=percentile(0.95))
