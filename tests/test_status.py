"""idp_logout_status and the admin's notification list: the operator's view of delivery."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from django_idp_logout.models import BackchannelNotification, EndReason, NotificationStatus, UserSession
from django_idp_logout.services.status import delivery_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def outbox(user, application_factory):
    """portal: 2 due (oldest 5 min), 1 waiting to retry, 4 delivered in the last hour (1, 2, 3, 10 s),
    1 failed 2 hours ago; wiki: 1 failed 10 minutes ago, 1 delivered 3 days ago (out of every window)."""
    portal = application_factory(client_id="portal")
    wiki = application_factory(client_id="wiki")
    now = timezone.now()

    def row(app, minutes_ago, status=NotificationStatus.PENDING, next_in=-1, took=None):
        created = now - timedelta(minutes=minutes_ago)
        return BackchannelNotification.objects.create(
            user_session=UserSession.objects.create(user=user),
            application=app,
            uri="https://rp.example.com/bc",
            reason=EndReason.USER_LOGOUT,
            status=status,
            created_at=created,
            next_attempt_at=now + timedelta(seconds=next_in),
            delivered_at=created + timedelta(seconds=took) if took is not None else None,
            attempts=1 if status != NotificationStatus.PENDING else 0,
        )

    row(portal, 5)
    row(portal, 1)
    row(portal, 2, next_in=300)
    for took in (1, 2, 3, 10):
        row(portal, 20, NotificationStatus.DELIVERED, took=took)
    row(portal, 120, NotificationStatus.FAILED)
    row(wiki, 10, NotificationStatus.FAILED)
    row(wiki, 3 * 24 * 60, NotificationStatus.DELIVERED, took=1)
    return portal, wiki


def test_status_counts_backlog_failures_and_latency(outbox):
    status = delivery_status()
    assert (status.due, status.not_due) == (2, 1)
    assert 295 <= status.oldest_due_age_seconds <= 330
    assert (status.failed_last_hour, status.failed_last_day) == (1, 2)
    assert (status.latency_last_hour.delivered, status.latency_last_hour.p50_seconds) == (4, 2.0)
    assert status.latency_last_hour.p95_seconds == 10.0
    portal, wiki = status.clients  # most due first
    assert (portal.client_id, portal.due, portal.pending) == ("portal", 2, 3)
    assert (portal.last_hour.delivered, portal.last_hour.failed, portal.last_hour.pending) == (4, 0, 3)
    assert (portal.last_day.delivered, portal.last_day.failed) == (4, 1)
    assert (wiki.client_id, wiki.due, wiki.last_hour.failed, wiki.last_day.delivered) == ("wiki", 0, 1, 0)


def test_status_with_an_empty_outbox():
    status = delivery_status()
    assert (status.due, status.not_due, status.oldest_due_age_seconds, status.clients) == (0, 0, None, [])
    assert status.latency_last_hour.p50_seconds is None


def test_command_prints_the_summary_and_a_line_per_client(outbox, capsys):
    call_command("idp_logout_status")
    out = capsys.readouterr().out
    assert "due now:                 2" in out
    assert "failed (gave up):        1 in the last hour, 2 in the last day" in out
    assert "p50 2.0 s, p95 10.0 s (4 delivered)" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["portal", "2", "3", "4/0", "4/1", "-"] in lines
    assert ["wiki", "0", "0", "0/1", "0/1", "-"] in lines


def test_command_json_for_monitoring(outbox, capsys):
    call_command("idp_logout_status", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["due"] == 2 and data["failed_last_day"] == 2
    assert data["latency_last_hour"] == {"delivered": 4, "p50_seconds": 2.0, "p95_seconds": 10.0}
    assert [c["client_id"] for c in data["clients"]] == ["portal", "wiki"]
    assert data["clients"][0]["last_day"] == {"delivered": 4, "failed": 1, "pending": 3}
    assert data["paused_clients"] == []
    assert data["generated_at"].startswith(str(timezone.now().year))


def test_admin_notification_list_shows_the_same_summary(admin_client, outbox):
    response = admin_client.get(reverse("admin:django_idp_logout_backchannelnotification_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="idp-logout-delivery-status"' in html
    assert response.context["delivery_status"].due == 2
    assert "<td>portal</td><td>2</td><td>3</td>" in html
    assert "1 in the last hour, 2 in the last day" in html
