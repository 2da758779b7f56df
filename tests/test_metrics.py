"""Prometheus metrics (the ``metrics`` extra), read from a real ``prometheus_client`` registry."""

import pytest
from django.test import Client
from django.urls import reverse
from prometheus_client import CollectorRegistry, generate_latest

from django_idp_logout import api
from django_idp_logout.metrics.collectors import install, uninstall
from django_idp_logout.models import BackchannelCircuit, BackchannelNotification, EndReason
from django_idp_logout.services.outbox import deliver_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry():
    registry = CollectorRegistry()
    install(registry)
    yield registry
    uninstall(registry)


def test_logouts_revocations_and_deliveries_are_counted(
    registry,
    user,
    application,
    logout_settings_factory,
    oidc_login,
    backchannel_receiver,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.IDP_LOGOUT = {
        "BACKCHANNEL_DELIVERY": "sync",
        "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True,
        "COORDINATE_LIFETIME_WITH_USER_SESSION": True,
    }
    logout_settings_factory(application, backchannel_logout_uri=backchannel_receiver.url("/bc"))
    backchannel_receiver.on("/bc", statuses=[500, 200])
    browser = Client()
    oidc_login(user, application, browser=browser)
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(reverse("idp_logout:logout"), {"confirm": "yes"})
    sample = registry.get_sample_value
    assert sample("idp_logout_sessions_ended_total", {"reason": EndReason.USER_LOGOUT}) == 1
    assert sample("idp_logout_tokens_revoked_total", {"kind": "refresh_tokens"}) == 1
    assert sample("idp_logout_tokens_revoked_total", {"kind": "access_tokens"}) == 1
    client_id = application.client_id
    assert (
        sample("idp_logout_backchannel_notifications_total", {"client_id": client_id, "outcome": "failed"})
        == 1
    )
    assert sample("idp_logout_backchannel_backlog", {"state": "waiting"}) == 1  # retry scheduled
    assert sample("idp_logout_backchannel_backlog", {"state": "due"}) == 0
    BackchannelNotification.objects.update(next_attempt_at=BackchannelNotification.objects.get().created_at)
    assert sample("idp_logout_backchannel_backlog", {"state": "due"}) == 1
    deliver_due()
    assert (
        sample("idp_logout_backchannel_notifications_total", {"client_id": client_id, "outcome": "delivered"})
        == 1
    )
    assert sample("idp_logout_backchannel_backlog", {"state": "due"}) == 0
    assert b"idp_logout_backchannel_paused_clients 0.0" in generate_latest(registry)


def test_paused_clients_and_final_failures_show(registry, user, application, settings):
    from django.utils import timezone

    BackchannelCircuit.objects.create(application=application, paused_until=timezone.now().replace(year=2999))
    assert registry.get_sample_value("idp_logout_backchannel_paused_clients") == 1
    api.end_sessions([])  # nothing ended, nothing counted
    assert registry.get_sample_value("idp_logout_sessions_ended_total", {"reason": "terminated"}) is None


def test_uninstalled_metrics_stop_counting(user, application, django_capture_on_commit_callbacks):
    from django_idp_logout.models import UserSession

    registry, other = CollectorRegistry(), CollectorRegistry()
    install(registry)
    install(other)
    uninstall(registry)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            api.end_session(user_session=UserSession.objects.create(user=user), reason=EndReason.TERMINATED)
        assert registry.get_sample_value("idp_logout_sessions_ended_total", {"reason": "terminated"}) is None
        assert other.get_sample_value("idp_logout_sessions_ended_total", {"reason": "terminated"}) == 1
    finally:
        uninstall(other)
