"""The "thread" delivery strategy drains completely at exit (``wait_idle`` is its atexit hook).

Real pool, real HTTP receiver on 127.0.0.1, committed outbox rows (threads use their own connections).
"""

import threading
import time

import pytest
from django.db import connection

from django_idp_logout.delivery import thread as thread_delivery
from django_idp_logout.models import BackchannelNotification, EndReason, NotificationStatus, UserSession
from django_idp_logout.services.outbox import deliver_ids

pytestmark = pytest.mark.django_db(transaction=True)


def test_draining_a_busy_pool_at_exit_sends_every_queued_hand_off(
    user, application, backchannel_receiver, settings
):
    """Both workers are busy with held POSTs while more hand-offs wait in the queue; the exit drain
    (``wait_idle``) starts before they run. Every notification must still be sent, none left pending.
    Before the fix the queued hand-offs raised "cannot schedule new futures after shutdown"."""
    if connection.vendor == "sqlite":
        # The pool's jobs claim and record their rows from their own threads: SQLite's shared in-memory
        # test database refuses concurrent writers ("table is locked") instead of waiting.
        pytest.skip("threads writing at once need a server database (CI's PostgreSQL and MariaDB passes)")
    settings.IDP_LOGOUT = {
        "BACKCHANNEL_DELIVERY": "thread",
        "BACKCHANNEL_THREADS": 2,
        "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True,
    }
    thread_delivery.wait_idle()  # a fresh pool with this test's size
    release = threading.Event()
    backchannel_receiver.on("/held", hold=release)
    sessions = [UserSession.objects.create(user=user) for _ in range(12)]
    rows = [
        BackchannelNotification.objects.create(
            user_session=s,
            application=application,
            uri=backchannel_receiver.url("/held" if i < 2 else f"/rp{i}"),
            reason=EndReason.TERMINATED,
        )
        for i, s in enumerate(sessions)
    ]
    # one hand-off each, as one logout each would: first two whose POSTs hold both workers...
    handoffs = [thread_delivery.submit(deliver_ids, [row.pk]) for row in rows[:2]]
    backchannel_receiver.wait_for(2)
    assert len(backchannel_receiver.received) == 2
    # ...then ten more, which wait in the queue behind them
    handoffs += [thread_delivery.submit(deliver_ids, [row.pk]) for row in rows[2:]]
    assert not any(h.done() for h in handoffs[2:])

    drain = threading.Thread(target=thread_delivery.wait_idle)
    drain.start()
    time.sleep(0.2)  # the drain has begun while the hand-offs are still queued
    release.set()
    drain.join(timeout=30)

    assert not drain.is_alive()
    # Every hand-off ran (none refused with "cannot schedule new futures after shutdown") and had
    # finished when the drain returned.
    assert all(h.done() for h in handoffs)
    assert [h.exception() for h in handoffs if h.exception()] == []
    outcomes = list(BackchannelNotification.objects.values_list("uri", "status", "attempts", "last_error"))
    assert [o for o in outcomes if o[1] != NotificationStatus.DELIVERED] == []
    assert len(backchannel_receiver.received) == 12


def test_a_failing_hand_off_is_logged_not_lost_in_its_future(caplog):
    """Nobody reads the pool's futures: a job that raises (e.g. SQLite's "database is locked") must be
    logged with its notification ids, which stay due for idp_logout_deliver."""

    def failing_job(ids):
        raise RuntimeError("database is locked")

    with caplog.at_level("ERROR", logger="django_idp_logout.delivery.thread"):
        thread_delivery.submit(failing_job, [41, 42]).result(timeout=10)
    (record,) = [r for r in caplog.records if r.name == "django_idp_logout.delivery.thread"]
    assert "[41, 42]" in record.getMessage() and "stay due" in record.getMessage()
    assert record.exc_info and "database is locked" in str(record.exc_info[1])
