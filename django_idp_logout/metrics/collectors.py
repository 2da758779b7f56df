"""The metrics, fed by django-idp-logout's signals, and the outbox backlog read at scrape time.

- ``idp_logout_sessions_ended_total{reason}``
- ``idp_logout_tokens_revoked_total{kind}`` (refresh_tokens, access_tokens, id_tokens, grants)
- ``idp_logout_backchannel_notifications_total{client_id, outcome}`` (delivered, failed, gave_up)
- ``idp_logout_backchannel_backlog{state}`` (due, waiting: pending rows due now / retrying later) and
  ``idp_logout_backchannel_paused_clients``: read from the database when scraped, so every process
  reports the same truth and nothing is counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily

from .. import signals


@dataclass
class Installed:
    registry: CollectorRegistry
    sessions_ended: Counter
    tokens_revoked: Counter
    notifications: Counter
    backlog: BacklogCollector

    @property
    def uid(self) -> str:
        return f"django_idp_logout.metrics.{id(self.registry)}"


class BacklogCollector:
    """Outbox backlog, counted at scrape time (two indexed COUNTs and one small query)."""

    def collect(self):
        from ..models import BackchannelNotification, NotificationStatus
        from ..services.outbox import paused_client_ids

        now = timezone.now()
        pending = BackchannelNotification.objects.filter(status=NotificationStatus.PENDING)
        backlog = GaugeMetricFamily(
            "idp_logout_backchannel_backlog",
            "Back-channel notifications not delivered yet, by state.",
            labels=["state"],
        )
        backlog.add_metric(["due"], pending.filter(next_attempt_at__lte=now).count())
        backlog.add_metric(["waiting"], pending.filter(next_attempt_at__gt=now).count())
        yield backlog
        yield GaugeMetricFamily(
            "idp_logout_backchannel_paused_clients",
            "Clients whose back-channel circuit is open (paused after failing in a row).",
            value=len(paused_client_ids(now)),
        )


_installed: dict[int, Installed] = {}


def install(registry: CollectorRegistry) -> Installed:
    """Register the metrics in ``registry`` and connect the signal receivers (once per registry)."""
    if id(registry) in _installed:
        return _installed[id(registry)]
    metrics = Installed(
        registry=registry,
        sessions_ended=Counter(
            "idp_logout_sessions_ended", "Login sessions ended, by reason.", ["reason"], registry=registry
        ),
        tokens_revoked=Counter(
            "idp_logout_tokens_revoked",
            "Tokens revoked or deleted with their session, by kind.",
            ["kind"],
            registry=registry,
        ),
        notifications=Counter(
            "idp_logout_backchannel_notifications",
            "Back-channel logout attempts, by client and outcome (delivered, failed, gave_up).",
            ["client_id", "outcome"],
            registry=registry,
        ),
        backlog=BacklogCollector(),
    )
    registry.register(metrics.backlog)

    def on_session_ended(sender, *, reason, **kwargs):
        metrics.sessions_ended.labels(reason=reason or "").inc()

    def on_tokens_revoked(sender, *, counts, **kwargs):
        for kind, count in counts.items():
            if count:
                metrics.tokens_revoked.labels(kind=kind).inc(count)

    def on_delivered(sender, *, notification, **kwargs):
        metrics.notifications.labels(client_id=_client_id(notification), outcome="delivered").inc()

    def on_failed(sender, *, notification, final, **kwargs):
        outcome = "gave_up" if final else "failed"
        metrics.notifications.labels(client_id=_client_id(notification), outcome=outcome).inc()

    receivers = (
        (signals.session_ended, on_session_ended),
        (signals.tokens_revoked, on_tokens_revoked),
        (signals.backchannel_logout_delivered, on_delivered),
        (signals.backchannel_logout_failed, on_failed),
    )
    for signal, receiver in receivers:
        signal.connect(receiver, weak=False, dispatch_uid=f"{metrics.uid}.{receiver.__name__}")
    _installed[id(registry)] = metrics
    return metrics


def uninstall(registry: CollectorRegistry) -> None:
    """Disconnect the receivers installed for ``registry`` (tests)."""
    metrics = _installed.pop(id(registry), None)
    if metrics is None:
        return
    for signal, name in (
        (signals.session_ended, "on_session_ended"),
        (signals.tokens_revoked, "on_tokens_revoked"),
        (signals.backchannel_logout_delivered, "on_delivered"),
        (signals.backchannel_logout_failed, "on_failed"),
    ):
        signal.disconnect(dispatch_uid=f"{metrics.uid}.{name}")
    registry.unregister(metrics.backlog)


def _client_id(notification) -> str:
    application = getattr(notification, "application", None)
    return getattr(application, "client_id", "") or str(notification.application_id)
