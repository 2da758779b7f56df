"""idp_logout_cleanup: old ended sessions go (with what hangs on them); live and recent ones stay."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_idp_logout.models import (
    BackchannelNotification,
    EndReason,
    NotificationStatus,
    SessionClient,
    SessionToken,
    UpstreamLogoutToken,
    UserSession,
)
from django_idp_logout.services.cleanup import cleanup

pytestmark = pytest.mark.django_db


def ended(user, days_ago, application=None, notification_status=None):
    user_session = UserSession.objects.create(
        user=user, ended_at=timezone.now() - timedelta(days=days_ago), end_reason=EndReason.USER_LOGOUT
    )
    if application is not None:
        SessionClient.objects.create(user_session=user_session, application=application)
        if notification_status:
            BackchannelNotification.objects.create(
                user_session=user_session,
                application=application,
                uri="https://rp.example.com/bc",
                reason=EndReason.USER_LOGOUT,
                status=notification_status,
            )
    return user_session


def test_cleanup_deletes_old_settled_sessions_only(user, application, capsys):
    old = ended(user, 40, application, NotificationStatus.DELIVERED)
    old_failed = ended(user, 40, application, NotificationStatus.FAILED)
    old_pending = ended(user, 40, application, NotificationStatus.PENDING)
    recent = ended(user, 5)
    live = UserSession.objects.create(user=user)
    UpstreamLogoutToken.objects.create(digest="a" * 64, expires_at=timezone.now() - timedelta(minutes=1))
    UpstreamLogoutToken.objects.create(digest="b" * 64, expires_at=timezone.now() + timedelta(minutes=1))
    call_command("idp_logout_cleanup", "--days", "30", "--batch-size", "1")
    remaining = set(UserSession.objects.values_list("pk", flat=True))
    assert remaining == {old_pending.pk, recent.pk, live.pk}
    assert not SessionClient.objects.filter(user_session__in=[old.pk, old_failed.pk]).exists()
    assert list(UpstreamLogoutToken.objects.values_list("digest", flat=True)) == ["b" * 64]
    assert (
        "Deleted 2 ended sessions, 0 more delivered notifications and 1 expired upstream logout tokens"
        in capsys.readouterr().out
    )


@pytest.mark.parametrize("value", [-1, "30", 2.5, True, None])
def test_retention_setting_must_be_whole_days(settings, value):
    from django_idp_logout import checks

    settings.IDP_LOGOUT = {"CLEANUP_RETENTION_DAYS": value}
    assert [e.id for e in checks.check_cleanup_retention()] == ["django_idp_logout.E400"]
    settings.IDP_LOGOUT = {"CLEANUP_RETENTION_DAYS": 0}
    assert checks.check_cleanup_retention() == []


def test_whole_batches_of_sessions_still_waiting_for_delivery_do_not_stop_the_run(user, application):
    """The batches walk the old sessions in id order: a batch whose every session still has a pending
    notification is skipped, and the settled sessions after it are deleted in the same run."""
    waiting = [ended(user, 40, application, NotificationStatus.PENDING) for _ in range(4)]
    settled = [ended(user, 40, application, NotificationStatus.DELIVERED) for _ in range(3)]
    counts = cleanup(ended_before_days=30, batch_size=2)
    assert counts.sessions == 3
    assert set(UserSession.objects.values_list("pk", flat=True)) == {s.pk for s in waiting}
    assert not SessionClient.objects.filter(user_session__in=[s.pk for s in settled]).exists()


def test_retention_setting_is_the_default_and_days_overrides_it(user, settings, capsys):
    settings.IDP_LOGOUT = {"CLEANUP_RETENTION_DAYS": 3}
    four_days = ended(user, 4)
    two_days = ended(user, 2)
    call_command("idp_logout_cleanup")
    assert set(UserSession.objects.values_list("pk", flat=True)) == {two_days.pk}
    assert "(kept 3 days)" in capsys.readouterr().out
    call_command("idp_logout_cleanup", "--days", "1")
    assert not UserSession.objects.filter(pk__in=[four_days.pk, two_days.pk]).exists()


def test_cleanup_removes_bindings_and_delivered_notifications_kept_by_a_pending_sibling(
    user, application, application_factory
):
    from tests.test_sessions import bind_many

    other = application_factory()
    old = ended(user, 40, application, NotificationStatus.DELIVERED)
    bind_many(old, application, 2)
    kept = ended(user, 40, application, NotificationStatus.PENDING)
    BackchannelNotification.objects.create(
        user_session=kept,
        application=other,
        uri="https://rp2.example.com/bc",
        reason=EndReason.USER_LOGOUT,
        status=NotificationStatus.DELIVERED,
        delivered_at=timezone.now() - timedelta(days=40),
    )
    counts = cleanup(ended_before_days=30)
    assert (counts.sessions, counts.notifications) == (1, 1)
    assert not SessionToken.objects.filter(user_session_id=old.pk).exists()
    assert list(BackchannelNotification.objects.values_list("user_session_id", "status")) == [
        (kept.pk, NotificationStatus.PENDING)
    ]


def test_each_cleanup_batch_costs_the_same_statements_whatever_its_size(user, application):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.test_sessions import bind_many

    def run(sessions):
        for _ in range(sessions):
            bind_many(ended(user, 40, application, NotificationStatus.DELIVERED), application, 2)
        with CaptureQueriesContext(connection) as captured:
            counts = cleanup(ended_before_days=30, batch_size=100)
        assert counts.sessions == sessions
        return len(captured.captured_queries)

    assert run(2) == run(40)
    assert not SessionToken.objects.exists() and not SessionClient.objects.exists()
