"""Ending many sessions at once: set-based batches (a constant number of statements per batch), the
same outcome per session as ending them one by one, ``idp_logout_end_sessions``, and two nodes at once
on PostgreSQL ending each session exactly once."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from django_idp_logout import api, signals
from django_idp_logout.models import (
    BackchannelNotification,
    EndReason,
    SessionClient,
    SessionToken,
    UserSession,
)
from django_idp_logout.services.sessions import add_client, iter_end_sessions
from tests.test_adoption_unbound import make_unbound
from tests.test_sessions import bind_many, live_tokens

pytestmark = pytest.mark.django_db

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()


@pytest.fixture
def portal(application_factory, logout_settings_factory):
    """A coordinated client with a back-channel URI (nothing is sent: delivery runs after commit)."""
    app = application_factory(client_id="portal")
    logout_settings_factory(
        app, coordinate_lifetime_with_user_session=True, backchannel_logout_uri="https://rp.example.com/bc"
    )
    return app


@pytest.fixture
def wiki(application_factory, logout_settings_factory):
    """An uncoordinated client without back-channel: its tokens outlive the session."""
    app = application_factory(client_id="wiki")
    logout_settings_factory(app, coordinate_lifetime_with_user_session=False)
    return app


def make_sessions(user, count, *clients, tokens=2):
    sessions = []
    for _ in range(count):
        user_session = UserSession.objects.create(user=user)
        for client in clients:
            add_client(user_session, client)
            bind_many(user_session, client, tokens)
        sessions.append(user_session)
    return sessions


def statements(callable_) -> int:
    with CaptureQueriesContext(connection) as captured:
        callable_()
    return len(captured.captured_queries)


@pytest.fixture
def no_delivery(settings):
    settings.IDP_LOGOUT = {"BACKCHANNEL_DELIVERY": "sync"}  # runs after commit only: never in these tests


@pytest.mark.usefixtures("no_delivery")
def test_statements_per_batch_do_not_grow_with_the_sessions_in_it(user, portal):
    """One batch of 3 or of 30 sessions (each: a client, two token triples, a back-channel
    registration) costs the same statements; several batches cost that many times a constant."""

    def end_all(batch_size):
        return lambda: api.end_sessions(UserSession.objects.active(), batch_size=batch_size)

    make_sessions(user, 3, portal)
    small = statements(end_all(100))
    make_sessions(user, 30, portal)
    large = statements(end_all(100))
    assert small == large
    make_sessions(user, 30, portal)
    three_batches = statements(end_all(10))
    make_sessions(user, 60, portal)
    six_batches = statements(end_all(10))
    per_batch = (six_batches - three_batches) // 3
    assert six_batches - three_batches == 3 * per_batch
    # savepoint pair, claim, mark ended, clients, 8 revocation statements (the bindings, the live refresh
    # tokens to count, revoke them, detach, delete access tokens, the ID tokens still in use, delete ID
    # tokens, delete bindings; no grants here), outbox; MySQL/MariaDB: 2 more to turn the per-statement
    # foreign key checks off and on around the deletes
    assert per_batch == (14 if connection.features.can_defer_constraint_checks else 16)
    # The first batch also looks for the user's tokens from before the app (REVOKE_UNBOUND_TOKENS); a run
    # of several batches then asks once whether any exist (one EXISTS per kind: access and refresh
    # tokens, codes) and, none existing, its later batches skip the look.
    assert three_batches == 3 * per_batch + (large - per_batch) + 3
    assert UserSession.objects.active().count() == 0
    assert BackchannelNotification.objects.count() == 123


def looks_for_unbound_tokens(callable_) -> int:
    """How many times the batches looked for their users' tokens from before the app (one UNION of
    access and refresh tokens per look)."""
    with CaptureQueriesContext(connection) as captured:
        callable_()
    return sum(" UNION " in query["sql"] for query in captured.captured_queries)


@pytest.mark.usefixtures("no_delivery")
def test_a_bulk_run_without_tokens_from_before_the_app_stops_looking_after_its_first_batch(
    user, other_user, portal
):
    make_sessions(user, 30, portal)
    make_sessions(other_user, 30, portal)
    looks = looks_for_unbound_tokens(lambda: api.end_sessions(UserSession.objects.active(), batch_size=10))
    assert looks == 1
    assert UserSession.objects.active().count() == 0 and live_tokens(portal) == (0, 0, 0)


@pytest.mark.usefixtures("no_delivery")
def test_a_bulk_run_with_tokens_from_before_the_app_looks_in_every_batch_and_revokes_them(
    user, other_user, portal, django_capture_on_commit_callbacks
):
    """The user whose unbound tokens exist has a session in the last batch only: they still go."""
    make_sessions(user, 30, portal)
    make_unbound(other_user, portal, 2)
    (last,) = make_sessions(other_user, 1, portal)
    ended = []
    receiver = lambda sender, user_session, client_ids, counts, **kwargs: ended.append(  # noqa: E731
        (user_session.pk, client_ids, counts)
    )
    signals.tokens_revoked.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            looks = looks_for_unbound_tokens(
                lambda: api.end_sessions(UserSession.objects.active(), batch_size=10)
            )
    finally:
        signals.tokens_revoked.disconnect(receiver)
    assert looks == 4  # three full batches of the first user, then the last one
    assert live_tokens(portal) == (0, 0, 0)
    assert AccessToken.objects.filter(user=other_user).count() == 0
    assert RefreshToken.objects.filter(user=other_user, revoked__isnull=True).count() == 0
    # the last session's own two triples and the two unbound ones, counted with it
    assert (
        last.pk,
        ["portal"],
        {"refresh_tokens": 4, "access_tokens": 4, "id_tokens": 4, "grants": 0},
    ) in ended


@pytest.mark.usefixtures("no_delivery")
def test_the_outbox_rows_a_batch_writes_are_the_rows_the_orm_would_write(user, portal, wiki):
    """The batch writes its outbox rows with one INSERT ... SELECT (not bulk_create): every column must
    still be the model's default, on every database (dates stay dates, NULLs stay NULL), and only
    clients with a back-channel URI get a row."""
    from django_idp_logout.services.notifications import queue_backchannel_batch

    sessions = make_sessions(user, 2, portal, wiki, tokens=1)
    api.end_sessions(UserSession.objects.filter(pk__in=[s.pk for s in sessions]), reason=EndReason.TERMINATED)
    written = list(BackchannelNotification.objects.order_by("pk"))
    assert sorted((row.user_session_id, row.application_id) for row in written) == [
        (s.pk, portal.pk) for s in sessions
    ]
    (reference_session,) = make_sessions(user, 1)
    (reference_id,) = queue_backchannel_batch(
        [(reference_session.pk, portal.pk, "https://rp.example.com/bc")], reason=EndReason.TERMINATED
    )[reference_session.pk]
    reference = BackchannelNotification.objects.get(pk=reference_id)
    ignored = {"id", "user_session", "next_attempt_at", "created_at"}
    for row in written:
        for field in BackchannelNotification._meta.concrete_fields:
            if field.name not in ignored:
                assert getattr(row, field.name) == getattr(reference, field.name), field.name
        assert abs(row.next_attempt_at - reference.next_attempt_at).total_seconds() < 60
        assert abs(row.created_at - reference.created_at).total_seconds() < 60
        assert row.next_attempt_at <= reference.next_attempt_at and row.status == "pending"


@pytest.mark.usefixtures("no_delivery")
def test_a_batch_ends_each_session_as_ending_it_alone_would(
    user, other_user, portal, wiki, django_capture_on_commit_callbacks
):
    ended_signals, revoked_signals = [], []

    def on_ended(sender, user_session, reason, **kwargs):
        ended_signals.append((user_session.pk, reason))

    def on_revoked(sender, user_session, client_ids, counts, **kwargs):
        revoked_signals.append((user_session.pk, client_ids, counts))

    signals.session_ended.connect(on_ended, dispatch_uid="test-bulk-ended")
    signals.tokens_revoked.connect(on_revoked, dispatch_uid="test-bulk-revoked")
    try:
        both = make_sessions(user, 2, portal, wiki, tokens=2)
        portal_only = make_sessions(user, 1, portal, tokens=3)
        bystander = make_sessions(other_user, 1, portal, wiki)[0]
        already = make_sessions(user, 1, portal)[0]
        api.end_session(user_session=already, reason=EndReason.USER_LOGOUT)
        ended_signals.clear(), revoked_signals.clear()
        BackchannelNotification.objects.all().delete()

        with django_capture_on_commit_callbacks(execute=True):
            result = api.end_sessions(api.query_sessions(user=user, active=None), reason=EndReason.TERMINATED)
    finally:
        signals.session_ended.disconnect(dispatch_uid="test-bulk-ended")
        signals.tokens_revoked.disconnect(dispatch_uid="test-bulk-revoked")

    targets = [*both, *portal_only]
    assert sorted(r.user_session.pk for r in result) == sorted(s.pk for s in targets)
    assert all(r.ended_now and r.revoked_client_ids == ["portal"] for r in result)
    counts = {r.user_session.pk: r.counts.as_dict() for r in result}
    two = {"refresh_tokens": 2, "access_tokens": 2, "id_tokens": 2, "grants": 0}
    three = {"refresh_tokens": 3, "access_tokens": 3, "id_tokens": 3, "grants": 0}
    assert counts == {both[0].pk: two, both[1].pk: two, portal_only[0].pk: three}
    for user_session in targets:
        user_session.refresh_from_db()
        assert user_session.end_reason == EndReason.TERMINATED
        assert live_tokens(portal, user_session) == (0, 0, 0)
    for user_session in both:
        assert live_tokens(wiki, user_session) == (2, 2, 2)  # uncoordinated: kept
    assert live_tokens(portal, bystander) == (2, 2, 2)  # another user's session: untouched
    # no binding points at a deleted token
    assert not SessionToken.objects.filter(
        access_token__isnull=True, id_token__isnull=True, refresh_token__isnull=True, grant__isnull=True
    ).exists()
    assert sorted(BackchannelNotification.objects.values_list("user_session_id", "application_id")) == sorted(
        (s.pk, portal.pk) for s in targets
    )
    by_session = {r.user_session.pk: r.notification_ids for r in result}
    for notification in BackchannelNotification.objects.all():
        assert by_session[notification.user_session_id] == [notification.pk]
    # after commit, one signal of each kind per session, with that session's own counts
    assert sorted(ended_signals) == sorted((s.pk, EndReason.TERMINATED) for s in targets)
    assert sorted((pk, ids, c) for pk, ids, c in revoked_signals) == sorted(
        (pk, ["portal"], c) for pk, c in counts.items()
    )


@pytest.mark.usefixtures("no_delivery")
def test_signals_of_a_batch_fire_after_its_commit(user, portal, django_capture_on_commit_callbacks):
    seen = []

    def record(sender, user_session, **kwargs):
        seen.append(user_session.pk)

    signals.session_ended.connect(record, dispatch_uid="t-after")
    try:
        make_sessions(user, 3, portal)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            api.end_sessions(UserSession.objects.all())
        assert seen == [] and len(callbacks) == 1  # one hook for the batch, nothing sent before commit
        callbacks[0]()
        assert len(seen) == 3
    finally:
        signals.session_ended.disconnect(dispatch_uid="t-after")


def test_end_sessions_accepts_a_list_and_a_sliced_queryset(user, portal, no_delivery):
    sessions = make_sessions(user, 5, portal, tokens=1)
    assert len(api.end_sessions(sessions[:2], batch_size=1)) == 2
    assert len(api.end_sessions(UserSession.objects.order_by("pk")[:4])) == 2  # two of the four were ended
    assert UserSession.objects.active().count() == 1
    with pytest.raises(ValueError):
        api.end_sessions(sessions, batch_size=0)


# --- the command ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_delivery")
def test_command_ends_a_users_sessions_only(user, other_user, portal, capsys):
    mine = make_sessions(user, 3, portal, tokens=1)
    theirs = make_sessions(other_user, 2, portal, tokens=1)
    call_command("idp_logout_end_sessions", "--user", "alice", "--batch-size", "2", "-v", "2")
    out = capsys.readouterr().out
    assert "3 active sessions to end, 2 per batch." in out
    assert "… 2 / 3 ended" in out and "Ended 3 sessions in" in out
    assert {s.pk for s in UserSession.objects.ended()} == {s.pk for s in mine}
    assert UserSession.objects.active().count() == len(theirs)
    assert set(UserSession.objects.ended().values_list("end_reason", flat=True)) == {EndReason.TERMINATED}


@pytest.mark.usefixtures("no_delivery")
def test_command_ends_every_session_of_a_compromised_client(user, other_user, portal, wiki, capsys):
    with_portal = make_sessions(user, 2, portal, wiki, tokens=1) + make_sessions(other_user, 1, portal)
    wiki_only = make_sessions(user, 2, wiki, tokens=1)
    call_command("idp_logout_end_sessions", "--client", "portal", "--queue-only")
    assert {s.pk for s in UserSession.objects.ended()} == {s.pk for s in with_portal}
    assert all(UserSession.objects.get(pk=s.pk).ended_at is None for s in wiki_only)
    assert BackchannelNotification.objects.count() == 3
    assert "Notifications queued" in capsys.readouterr().out


def test_command_all_and_its_errors(user, portal, no_delivery):
    make_sessions(user, 4, portal, tokens=0)
    for args, message in [
        ((), "Say which sessions"),
        (("--all", "--user", "alice"), "cannot be combined"),
        (("--user", "nobody"), "No user 'nobody'"),
        (("--client", "nope"), "No client 'nope'"),
        (("--all", "--batch-size", "0"), "--batch-size"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("idp_logout_end_sessions", *args)
    assert UserSession.objects.active().count() == 4
    call_command("idp_logout_end_sessions", "--all", "--reason", "session_expiration")
    assert set(UserSession.objects.values_list("end_reason", flat=True)) == {EndReason.SESSION_EXPIRATION}


@pytest.mark.usefixtures("no_delivery")
def test_an_interrupted_run_keeps_its_committed_batches_and_the_next_run_ends_the_rest(user, portal):
    """Killed after its first batch: that batch is ended (with its notifications), the rest untouched;
    running again ends only the rest, and nothing is queued twice."""
    make_sessions(user, 5, portal, tokens=1)
    batches = iter_end_sessions(UserSession.objects.all(), reason=EndReason.TERMINATED, batch_size=2)
    first = next(batches)
    batches.close()  # the process stops here
    assert len(first) == 2
    assert UserSession.objects.ended().count() == 2
    assert BackchannelNotification.objects.count() == 2
    call_command("idp_logout_end_sessions", "--all", "--batch-size", "2")
    assert UserSession.objects.active().count() == 0
    assert (
        Counter(BackchannelNotification.objects.values_list("user_session_id", flat=True)).most_common(1)[0][
            1
        ]
        == 1
    )
    assert BackchannelNotification.objects.count() == 5


# --- a real process, killed half-way ----------------------------------------------------------------------


def command_process(*args: str) -> subprocess.Popen:
    """``python manage.py <args>`` in a process of its own, on this test's (committed) database."""
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": django_settings.SETTINGS_MODULE,
        "IDP_DATABASE": "postgres",
        "IDP_PG_NAME": database["NAME"],
        "IDP_PG_HOST": database["HOST"] or "",
        "IDP_PG_PORT": str(database["PORT"] or ""),
        "IDP_PG_USER": database["USER"] or "",
        "IDP_PG_PASSWORD": database["PASSWORD"] or "",
    }
    root = Path(__file__).resolve().parent.parent
    return subprocess.Popen(
        [sys.executable, str(root / "manage.py"), *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def other_backends(waiting_on_a_lock=False) -> list[tuple[int, str]]:
    """Other server processes on this test database: (pid, current statement)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
            "pg_backend_pid()" + (" AND wait_event_type = 'Lock'" if waiting_on_a_lock else "")
        )
        return cursor.fetchall()


def poll(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.02)
    return result


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_killed_mid_batch_leaves_whole_batches_and_the_next_run_ends_the_rest(
    user, portal, application_factory, logout_settings_factory
):
    """``idp_logout_end_sessions`` as a real process, SIGKILLed while a batch is half-way (sessions
    marked ended, tokens not revoked yet, nothing queued): the batches before it stay done, the killed
    one is rolled back whole, and a second run ends the rest, each session once with one notification
    per back-channel client.

    To kill it at that exact point, the test holds a lock on one refresh token of a session in the
    middle: the batch holding that session waits for it inside its transaction, after its UPDATE of
    the sessions, before its revocations and its outbox INSERT."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "runs the command in a second process on the test database: SQLite's is in memory "
            "(CI's PostgreSQL pass runs it)"
        )
    second = application_factory(client_id="second")
    logout_settings_factory(
        second,
        coordinate_lifetime_with_user_session=False,
        backchannel_logout_uri="https://rp2.example.com/bc",
    )
    batch_size, total = 4, 40
    sessions = make_sessions(user, total, portal, second, tokens=1)
    victim = sessions[total // 2]
    args = (
        "idp_logout_end_sessions",
        "--all",
        "--batch-size",
        str(batch_size),
        "--queue-only",
        "--reason",
        EndReason.SESSION_EXPIRATION,
    )

    locker = connections.create_connection("default")  # a second connection: another transaction
    locker.set_autocommit(False)
    with locker.cursor() as cursor:
        token = RefreshToken.objects.get(application=portal, idp_logout_binding__user_session=victim)
        table = connection.ops.quote_name(RefreshToken._meta.db_table)
        cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [token.pk])
    process = command_process(*args)
    try:

        def stuck_after_a_commit():
            assert process.poll() is None, process.stdout.read().decode()
            waiting = other_backends(waiting_on_a_lock=True)
            return waiting if waiting and UserSession.objects.ended().exists() else None

        ((stuck_pid, statement),) = poll(
            stuck_after_a_commit, 8, "a committed batch and one waiting for the lock"
        )
        assert RefreshToken._meta.db_table in statement  # the waiting batch is at its revocations
        process.send_signal(signal.SIGKILL)
        assert process.wait(5) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        locker.rollback()  # the orphaned server process goes on, finds its client gone, rolls back
        locker.close()
    poll(lambda: not other_backends(), 5, "the killed process's server side to roll back and end")

    ended_first = dict(UserSession.objects.ended().values_list("pk", "ended_at"))
    assert 0 < len(ended_first) < total and len(ended_first) % batch_size == 0  # whole batches only
    assert victim.pk not in ended_first
    notified = Counter(BackchannelNotification.objects.values_list("user_session_id", flat=True))
    for user_session in sessions:
        done = user_session.pk in ended_first
        assert notified[user_session.pk] == (2 if done else 0)
        assert live_tokens(portal, user_session) == ((0, 0, 0) if done else (1, 1, 1))

    out = StringIO()
    call_command(*args, stdout=out)
    assert f"Ended {total - len(ended_first)} sessions" in out.getvalue()
    assert UserSession.objects.active().count() == 0
    assert set(UserSession.objects.values_list("end_reason", flat=True)) == {EndReason.SESSION_EXPIRATION}
    assert dict(UserSession.objects.filter(pk__in=ended_first).values_list("pk", "ended_at")) == ended_first
    pairs = Counter(BackchannelNotification.objects.values_list("user_session_id", "application_id"))
    assert pairs == Counter({(s.pk, app.pk): 1 for s in sessions for app in (portal, second)})
    assert live_tokens(portal) == (0, 0, 0)
    assert live_tokens(second) == (total, total, total)  # not coordinated: kept


# --- several nodes at once ------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_nodes_ending_everything_at_once_end_each_session_exactly_once(
    user, portal, application_factory, logout_settings_factory, settings
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks and SKIP LOCKED (CI's PostgreSQL pass)")
    settings.IDP_LOGOUT = {"BACKCHANNEL_DELIVERY": "sync"}
    second = application_factory(client_id="second")
    logout_settings_factory(
        second,
        coordinate_lifetime_with_user_session=False,
        backchannel_logout_uri="https://rp2.example.com/bc",
    )
    sessions = make_sessions(user, 120, portal, second, tokens=1)
    ended_by: list[tuple[str, int]] = []
    lock = threading.Lock()
    errors = []

    def record(sender, user_session, **kwargs):
        with lock:
            ended_by.append((threading.current_thread().name, user_session.pk))

    signals.session_ended.connect(record, dispatch_uid="test-two-nodes")
    barrier = threading.Barrier(2)

    def node():
        try:
            barrier.wait()
            for _ in iter_end_sessions(
                UserSession.objects.all(),
                reason=EndReason.TERMINATED,
                batch_size=7,
                share_work=True,
                dispatch=False,
            ):
                pass
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=node, name=f"node{i}") for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        signals.session_ended.disconnect(dispatch_uid="test-two-nodes")
    assert errors == []
    assert sorted(pk for _, pk in ended_by) == sorted(s.pk for s in sessions)  # each ended once
    assert {name for name, _ in ended_by} == {"node0", "node1"}  # and the work was shared
    pairs = Counter(BackchannelNotification.objects.values_list("user_session_id", "application_id"))
    assert len(pairs) == 240 and set(pairs.values()) == {1}
    assert UserSession.objects.active().count() == 0
    assert live_tokens(portal) == (0, 0, 0)
    assert SessionClient.objects.count() == 240
    assert (
        RefreshToken.objects.filter(revoked__isnull=True, application=second).count() == 120
    )  # not coordinated


@pytest.mark.usefixtures("no_delivery")
def test_a_batch_looks_once_for_every_users_tokens_from_before_the_app(portal, django_user_model):
    """Sessions of many users: one look-up for their unbound tokens per batch, not one per user; the
    users who have such tokens lose those of coordinated clients, counted with their session."""
    from tests.test_adoption_unbound import make_unbound, unbound

    def sessions_of_new_users(count):
        start = django_user_model.objects.count()
        users = [django_user_model.objects.create(username=f"u{start + i}") for i in range(count)]
        return [UserSession.objects.create(user=u) for u in users], users

    sessions_of_new_users(2)
    few = statements(lambda: api.end_sessions(UserSession.objects.active()))
    sessions_of_new_users(12)
    many = statements(lambda: api.end_sessions(UserSession.objects.active()))
    assert few == many

    sessions, users = sessions_of_new_users(3)
    make_unbound(users[0], portal, 2)
    make_unbound(users[2], portal, 1)
    result = {r.user_session.pk: r for r in api.end_sessions(UserSession.objects.active())}
    assert unbound(portal) == (0, 0, 0)
    assert result[sessions[0].pk].counts.access_tokens == 2 and result[sessions[0].pk].revoked_client_ids == [
        "portal"
    ]
    assert result[sessions[1].pk].revoked_client_ids == []
    assert result[sessions[2].pk].counts.refresh_tokens == 1
