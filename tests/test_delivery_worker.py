"""The delivery worker (``idp_logout_deliver --worker``): limits, the per-client circuit breaker, and
the outbox as the truth. Real HTTP receivers on 127.0.0.1; real database commits (the worker's
database work runs in a thread of its own, as in production)."""

import socket
import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_idp_logout.models import (
    BackchannelCircuit,
    BackchannelNotification,
    EndReason,
    NotificationStatus,
    UserSession,
)
from django_idp_logout.services.outbox import deliver_due, run_worker

pytestmark = pytest.mark.django_db(transaction=True)

BASE = {"BACKCHANNEL_DELIVERY": "worker", "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True}


@pytest.fixture
def outbox(user, application_factory, logout_settings_factory):
    """``outbox({uri: count})``: that many ended sessions' notifications per client URI, all due."""

    def make(counts: dict[str, int]) -> dict[str, object]:
        apps = {}
        for uri, count in counts.items():
            app = application_factory()
            logout_settings_factory(app, backchannel_logout_uri=uri)
            apps[uri] = app
            for _ in range(count):
                session = UserSession.objects.create(
                    user=user, ended_at=timezone.now(), end_reason=EndReason.USER_LOGOUT
                )
                BackchannelNotification.objects.create(
                    user_session=session, application=app, uri=uri, reason=EndReason.USER_LOGOUT
                )
        return apps

    return make


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_worker_sends_every_due_notification_exactly_once(outbox, backchannel_receiver, settings):
    settings.IDP_LOGOUT = {**BASE, "BACKCHANNEL_CLAIM_BATCH": 7}  # several claims
    outbox({backchannel_receiver.url(f"/rp{i}"): 10 for i in range(3)})
    out = StringIO()
    call_command("idp_logout_deliver", worker=True, until_done=True, stdout=out)
    paths = sorted(r.path for r in backchannel_receiver.received)
    assert paths == sorted([f"/rp{i}" for i in range(3)] * 10)
    assert set(BackchannelNotification.objects.values_list("status", "attempts", "claim_token")) == {
        (NotificationStatus.DELIVERED, 1, "")
    }
    tokens = [r.form["logout_token"][0] for r in backchannel_receiver.received]
    assert len(set(tokens)) == 30  # each its own token (fresh jti)
    assert "30 delivered, 0 failed" in out.getvalue()


def test_a_client_that_keeps_failing_is_paused_and_its_notifications_stay_due(
    outbox, backchannel_receiver, closed_port, settings
):
    settings.IDP_LOGOUT = {
        **BASE,
        "BACKCHANNEL_CIRCUIT_FAILURES": 3,
        "BACKCHANNEL_CIRCUIT_PAUSE": 60,
        "BACKCHANNEL_CONCURRENCY_PER_CLIENT": 1,  # one attempt at a time: exactly 3 before the pause
    }
    dead_uri = f"http://127.0.0.1:{closed_port}/bc"
    apps = outbox({dead_uri: 10, backchannel_receiver.url("/alive"): 10})
    totals = run_worker(until_idle=True)
    dead = BackchannelNotification.objects.filter(application=apps[dead_uri])
    assert totals.delivered == 10 and totals.failed == 3
    assert len(backchannel_receiver.posts_to("/alive")) == 10
    assert set(dead.values_list("status", flat=True)) == {NotificationStatus.PENDING}  # still owed
    assert sum(dead.values_list("attempts", flat=True)) == 3  # the rest were given back unattempted
    circuit = BackchannelCircuit.objects.get(application=apps[dead_uri])
    assert circuit.paused_until > timezone.now() + timedelta(seconds=55)
    # why: the error of its last attempt, shown in the admin's list of circuits
    assert circuit.last_error and {circuit.last_error} == set(
        dead.exclude(last_error="").values_list("last_error", flat=True)
    )
    # While paused nobody claims them, even when due.
    dead.update(next_attempt_at=timezone.now())
    assert deliver_due()["due"] == 0
    # The pause ends: they are claimed again (and a second failure run doubles the pause).
    BackchannelCircuit.objects.update(paused_until=timezone.now() - timedelta(seconds=1))
    run_worker(until_idle=True)
    circuit.refresh_from_db()
    assert circuit.pauses == 2 and circuit.paused_until > timezone.now() + timedelta(seconds=115)


def test_a_hanging_client_costs_the_others_nothing(outbox, backchannel_receiver, settings):
    settings.IDP_LOGOUT = {
        **BASE,
        "BACKCHANNEL_TIMEOUT": 4,
        "BACKCHANNEL_CONCURRENCY": 6,
        "BACKCHANNEL_CONCURRENCY_PER_CLIENT": 2,
        "BACKCHANNEL_CIRCUIT_FAILURES": 2,
    }
    release = threading.Event()
    backchannel_receiver.on("/hang", hold=release)
    apps = outbox({backchannel_receiver.url("/hang"): 6, backchannel_receiver.url("/ok"): 30})
    started = timezone.now()
    try:
        run_worker(until_idle=True)
    finally:
        release.set()
    ok = BackchannelNotification.objects.filter(application=apps[backchannel_receiver.url("/ok")])
    assert set(ok.values_list("status", flat=True)) == {NotificationStatus.DELIVERED}
    # Every healthy notification landed before the hanging client's first attempt had even timed out.
    assert max(ok.values_list("delivered_at", flat=True)) - started < timedelta(seconds=4)
    hanging = BackchannelNotification.objects.filter(application=apps[backchannel_receiver.url("/hang")])
    # The circuit opens after 2 failures; a send already under way (per-client limit 2) may add one.
    assert 2 <= list(hanging.values_list("last_error", flat=True)).count("timed out after 4s") <= 3
    assert set(hanging.values_list("status", flat=True)) == {NotificationStatus.PENDING}
    assert BackchannelCircuit.objects.get(application=apps[backchannel_receiver.url("/hang")]).paused_until


def test_a_delivery_closes_the_circuit(outbox, backchannel_receiver, settings):
    settings.IDP_LOGOUT = dict(BASE)
    apps = outbox({backchannel_receiver.url("/back"): 1})
    app = apps[backchannel_receiver.url("/back")]
    BackchannelCircuit.objects.create(
        application=app, consecutive_failures=2, pauses=3, paused_until=timezone.now() - timedelta(seconds=1)
    )
    assert deliver_due() == {"due": 1, "delivered": 1, "failed": 0, "released": 0}
    circuit = BackchannelCircuit.objects.get(application=app)
    assert (circuit.consecutive_failures, circuit.pauses, circuit.paused_until) == (0, 0, None)


def test_a_client_resumed_by_an_operator_is_sent_to_by_a_running_worker(
    outbox, backchannel_receiver, settings
):
    """The worker pauses a client in memory too; closing its circuit in the database (the admin's
    "resume" action) lifts that pause within a second or so, not when the pause would have ended."""
    import asyncio

    from django.db import connection

    if connection.vendor == "sqlite":
        # The worker thread records failures while this thread reads the circuit: SQLite's shared
        # in-memory test database refuses that ("table is locked") instead of waiting (seen in the matrix).
        pytest.skip("threads writing at once need a server database (CI's PostgreSQL and MariaDB passes)")

    from django_idp_logout.delivery.sender import Limits
    from django_idp_logout.delivery.worker import run_worker as raw
    from django_idp_logout.services.outbox import Outbox, close_circuits

    settings.IDP_LOGOUT = {
        **BASE,
        "BACKCHANNEL_CIRCUIT_FAILURES": 2,
        "BACKCHANNEL_CIRCUIT_PAUSE": 600,
        "BACKCHANNEL_CONCURRENCY_PER_CLIENT": 1,
    }
    backchannel_receiver.on("/flaky", statuses=[500, 500, 200])  # down twice, then back
    app = outbox({backchannel_receiver.url("/flaky"): 5})[backchannel_receiver.url("/flaky")]
    rows = BackchannelNotification.objects.filter(application=app)
    holder, ready = {}, threading.Event()

    async def main():
        holder["loop"], holder["stop"] = asyncio.get_running_loop(), asyncio.Event()
        ready.set()
        return await raw(
            Outbox(), limits=Limits.from_settings(), batch=10, idle_wait=0.1, stop=holder["stop"]
        )

    worker = threading.Thread(target=lambda: holder.setdefault("totals", asyncio.run(main())))
    worker.start()
    try:
        ready.wait(5)

        def wait_for(condition, seconds):
            deadline = time.monotonic() + seconds
            while not condition() and time.monotonic() < deadline:
                time.sleep(0.05)
            return condition()

        assert wait_for(lambda: BackchannelCircuit.objects.filter(application=app, pauses=1).exists(), 5)
        time.sleep(0.5)
        assert len(backchannel_receiver.posts_to("/flaky")) == 2  # paused: nothing more is sent
        resumed_at = time.monotonic()
        assert [c.application_id for c in close_circuits(BackchannelCircuit.objects.all())] == [app.pk]
        # The three never attempted go out at once; the two that failed wait for their retry (10 s).
        assert wait_for(lambda: rows.filter(status=NotificationStatus.DELIVERED).count() == 3, 5), list(
            rows.values_list("status", "attempts", "next_attempt_at")
        )
        assert time.monotonic() - resumed_at < 3
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        worker.join(10)
    assert len(backchannel_receiver.posts_to("/flaky")) == 5  # 2 failed + 3 delivered, each once
    assert holder["totals"].delivered == 3


def test_a_stopped_worker_gives_back_what_it_claimed_but_did_not_send(outbox, backchannel_receiver, settings):
    """SIGTERM/stop: sends in flight finish, claimed-but-unsent rows are due again at once (no lease)."""
    import asyncio

    settings.IDP_LOGOUT = {**BASE, "BACKCHANNEL_CONCURRENCY": 2, "BACKCHANNEL_CONCURRENCY_PER_CLIENT": 2}
    backchannel_receiver.on("/slow", delay=0.5)
    outbox({backchannel_receiver.url("/slow"): 20})
    holder = {}

    def stop_soon():
        time.sleep(0.3)
        holder["loop"].call_soon_threadsafe(holder["stop"].set)

    async def main():
        from django_idp_logout.delivery.sender import Limits
        from django_idp_logout.delivery.worker import run_worker as raw
        from django_idp_logout.services.outbox import Outbox

        holder["loop"], holder["stop"] = asyncio.get_running_loop(), asyncio.Event()
        threading.Thread(target=stop_soon).start()
        return await raw(Outbox(), limits=Limits.from_settings(), batch=20, stop=holder["stop"])

    totals = asyncio.run(main())
    sent = len(backchannel_receiver.received)
    assert totals.delivered == sent and 0 < sent < 20
    assert totals.released == totals.claimed - sent > 0  # claimed (4 = two rounds of the limit), unsent
    rows = BackchannelNotification.objects.exclude(status=NotificationStatus.DELIVERED)
    assert rows.count() == 20 - sent
    assert set(rows.values_list("attempts", "claim_token")) == {(0, "")}
    assert all(r.next_attempt_at <= timezone.now() for r in rows)
