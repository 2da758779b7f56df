"""``BACKCHANNEL_DELIVERY = "celery"`` with a real Celery worker consuming from the machine's Redis."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django.test import Client

from django_idp_logout import api
from django_idp_logout.models import BackchannelNotification, NotificationStatus
from tests.celery_app import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def celery_worker():
    import django_idp_logout.tasks  # noqa: F401  (registers the shared tasks on the current app)

    celery_app.set_current()
    celery_app.set_default()
    celery_app.control.purge()
    with start_worker(
        celery_app, pool="threads", concurrency=2, perform_ping_check=False, loglevel="WARNING"
    ) as worker:
        yield worker


def test_celery_worker_delivers_after_commit(
    celery_worker, user, application, logout_settings_factory, oidc_login, backchannel_receiver, settings
):
    if connection.vendor == "sqlite":
        # The worker's threads record the outcome while this thread polls the row: SQLite's shared
        # in-memory test database refuses the write ("table is locked") instead of waiting, which the
        # Django 6.0 SQLite stack hit once in the matrix. As for the thread-drain tests.
        pytest.skip("threads writing at once need a server database (CI's PostgreSQL and MariaDB passes)")
    settings.IDP_LOGOUT = {"BACKCHANNEL_DELIVERY": "celery", "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True}
    logout_settings_factory(application, backchannel_logout_uri=backchannel_receiver.url("/celery"))
    oidc_login(user, application, browser=Client())
    api.end_sessions(api.query_sessions(user=user))  # commits: the task goes to Redis, the worker sends
    backchannel_receiver.wait_for(1, timeout=20)
    assert [r.path for r in backchannel_receiver.received] == ["/celery"]
    assert "logout_token" in backchannel_receiver.received[0].form
    for _ in range(200):
        if BackchannelNotification.objects.get().status == NotificationStatus.DELIVERED:
            break
        time.sleep(0.05)
    assert BackchannelNotification.objects.get().status == NotificationStatus.DELIVERED


def test_beat_task_sends_what_is_due(
    celery_worker, user, application, logout_settings_factory, backchannel_receiver, settings
):
    from django_idp_logout.models import EndReason, UserSession
    from django_idp_logout.tasks import deliver_due_notifications

    settings.IDP_LOGOUT = {"BACKCHANNEL_DELIVERY": "sync", "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True}
    logout_settings_factory(application, backchannel_logout_uri=backchannel_receiver.url("/due"))
    user_session = UserSession.objects.create(user=user)
    user_session.session_clients.create(application=application)
    BackchannelNotification.objects.create(
        user_session=user_session,
        application=application,
        uri=backchannel_receiver.url("/due"),
        reason=EndReason.TERMINATED,
    )
    deliver_due_notifications.delay()
    backchannel_receiver.wait_for(1, timeout=20)
    assert [r.path for r in backchannel_receiver.received] == ["/due"]
