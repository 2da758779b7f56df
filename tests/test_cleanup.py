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
    UpstreamLogoutToken,
    UserSession,
)

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
    assert "Deleted 2 ended sessions and 1 expired upstream logout tokens." in capsys.readouterr().out
