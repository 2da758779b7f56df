"""Bulk ending throughput: ``idp_logout_expire_sessions`` over many sessions, each holding one client,
two token triples (ID + access + refresh token) and a back-channel registration, this tree's code
side by side with another checkout's (``--before DIR``, e.g. the commit before set-based ending).

    .venv/bin/python benchmarks/bulk_ending.py --database postgres --sessions 100000 \\
        --before /tmp/old-checkout --before-sessions 2000 --processes 1,2

Every measurement runs in its own process (``--measure``) with its own throw-away database
(PostgreSQL: ``test_idp_bulk_<pid>``; SQLite: a temporary file) so the code of one side never leaks
into the other. The data set is built with bulk inserts, then P processes (``--attach``) run the
command at the same moment; the time is from the first start to the last finish, Django's start-up
excluded. Sending is switched off on both sides (``delivery.dispatch`` replaced by a no-op: the
outbox rows are written, nobody sends them; sending is what backchannel_fanout.py measures).
``BENCH_SHOW_SQL=1`` prints, per node, where the time went (seconds per kind of statement, COMMIT with
its deferred foreign-key checks, and the rest: Python) and the slowest statements, to stderr;
``BENCH_PROFILE=/tmp/bulk.prof`` writes each node's cProfile to ``/tmp/bulk.prof.<pid>``. Users hold
``--sessions-per-user`` sessions each (default 2). Checked
afterwards: every session ended once with reason ``session_expiration``, every access and ID token of
the client deleted, every refresh token revoked, exactly one notification per session.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_CHUNK = 2000


def setup_django(code: Path, database: str) -> None:
    sys.path.insert(0, str(code))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["IDP_DATABASE"] = database
    import django

    django.setup()
    import django_idp_logout

    assert Path(django_idp_logout.__file__).resolve().is_relative_to(code.resolve()), (
        django_idp_logout.__file__
    )


def bench_settings():
    return {
        "SESSION_IDLE_TIMEOUT": 3600,
        "COORDINATE_LIFETIME_WITH_USER_SESSION": True,
        "BACKCHANNEL_DELIVERY": "sync",
    }


def switch_off_sending() -> None:
    """No hand-off to delivery after each batch's commit: the outbox rows are written, nobody sends them.
    The hand-off is ``services.outbox.dispatch`` in this tree (looked up at each commit) and
    ``delivery.dispatch`` in the code before set-based ending; whichever exists is replaced."""
    import django_idp_logout.delivery as delivery

    delivery.dispatch = lambda ids: None
    try:
        import django_idp_logout.services.outbox as outbox
    except ImportError:
        return
    outbox.dispatch = lambda ids: None


def build(sessions: int, sessions_per_user: int = 2) -> None:
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone
    from oauth2_provider.models import (
        get_access_token_model,
        get_application_model,
        get_id_token_model,
        get_refresh_token_model,
        set_token_value,
    )

    from django_idp_logout.models import ClientLogoutSettings, SessionClient, SessionToken, UserSession

    User, Application = get_user_model(), get_application_model()
    AccessToken, RefreshToken, IDToken = (
        get_access_token_model(),
        get_refresh_token_model(),
        get_id_token_model(),
    )
    # People hold a few sessions each (the growth benchmark's 2 per user), not hundreds: the look for a
    # user's tokens from before the app (REVOKE_UNBOUND_TOKENS) reads every live token of the batch's users.
    user_count = max(1, -(-sessions // sessions_per_user))
    users = []
    for start in range(0, user_count, 5000):
        users += User.objects.bulk_create(
            [User(username=f"bulk-{i}", password="!") for i in range(start, min(start + 5000, user_count))]
        )
    app = Application.objects.create(
        name="Bulk",
        client_id="bulk",
        client_type=Application.CLIENT_CONFIDENTIAL,
        client_secret="secret",
        hash_client_secret=False,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://rp.example.com/cb",
        algorithm=Application.RS256_ALGORITHM,
    )
    ClientLogoutSettings.objects.create(
        application=app,
        coordinate_lifetime_with_user_session=True,
        backchannel_logout_uri="https://rp.example.com/bc",
    )
    long_ago = timezone.now() - timedelta(hours=2)
    expires = timezone.now() + timedelta(hours=1)
    for offset in range(0, sessions, BUILD_CHUNK):
        count = min(BUILD_CHUNK, sessions - offset)
        with transaction.atomic():
            batch = UserSession.objects.bulk_create(
                [
                    UserSession(
                        user=users[(offset + i) % user_count], created_at=long_ago, last_activity=long_ago
                    )
                    for i in range(count)
                ]
            )
            SessionClient.objects.bulk_create([SessionClient(user_session=s, application=app) for s in batch])
            owners = [s for s in batch for _ in range(2)]
            ids = IDToken.objects.bulk_create(
                [
                    IDToken(
                        user_id=s.user_id, application=app, jti=uuid.uuid4(), expires=expires, scope="openid"
                    )
                    for s in owners
                ]
            )
            ats = []
            for s, id_token in zip(owners, ids, strict=True):
                at = AccessToken(
                    user_id=s.user_id, application=app, id_token=id_token, expires=expires, scope="openid"
                )
                set_token_value(at, uuid.uuid4().hex)
                ats.append(at)
            ats = AccessToken.objects.bulk_create(ats)
            rts = []
            for s, at in zip(owners, ats, strict=True):
                rt = RefreshToken(
                    user_id=s.user_id, application=app, access_token=at, token_family=uuid.uuid4()
                )
                set_token_value(rt, uuid.uuid4().hex)
                rts.append(rt)
            rts = RefreshToken.objects.bulk_create(rts)
            SessionToken.objects.bulk_create(
                [
                    SessionToken(user_session=s, application=app, **{kind: token})
                    for tokens, kind in ((ids, "id_token"), (ats, "access_token"), (rts, "refresh_token"))
                    for s, token in zip(owners, tokens, strict=True)
                ]
            )


def verify(sessions: int) -> None:
    from django.db.models import Count
    from oauth2_provider.models import get_access_token_model, get_id_token_model, get_refresh_token_model

    from django_idp_logout.models import BackchannelNotification, UserSession

    assert UserSession.objects.active().count() == 0
    assert UserSession.objects.filter(end_reason="session_expiration").count() == sessions
    assert get_access_token_model().objects.count() == 0
    assert get_id_token_model().objects.count() == 0
    assert get_refresh_token_model().objects.filter(revoked__isnull=True).count() == 0
    assert get_refresh_token_model().objects.count() == 2 * sessions
    assert BackchannelNotification.objects.count() == sessions
    assert not (
        BackchannelNotification.objects.values("user_session_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .exists()
    )


def table_sizes(sessions: int) -> dict[str, float]:
    """Table + index bytes per session of the tables a session fills (after ending: the tokens left
    are the revoked refresh tokens)."""
    from django.db import connection

    from django_idp_logout.models import BackchannelNotification, SessionClient, SessionToken, UserSession

    tables = [m._meta.db_table for m in (UserSession, SessionClient, SessionToken, BackchannelNotification)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        sizes = {}
        for table in tables:
            cursor.execute("SELECT pg_table_size(%s), pg_indexes_size(%s)", [table, table])
            data, indexes = cursor.fetchone()
            sizes[table.removeprefix("django_idp_logout_")] = (data / sessions, indexes / sessions)
    return sizes


def clean_up(sessions: int) -> float:
    """Age every ended session past the retention, mark the outbox delivered, time idp_logout_cleanup
    (in this process), check that everything hanging on the sessions is gone."""
    from django.core.management import call_command
    from django.utils import timezone

    from django_idp_logout.models import BackchannelNotification, SessionClient, SessionToken, UserSession

    long_ago = timezone.now() - timedelta(days=40)
    UserSession.objects.update(ended_at=long_ago)
    BackchannelNotification.objects.update(status="delivered", delivered_at=long_ago)
    started = time.perf_counter()
    call_command("idp_logout_cleanup", days=30, stdout=open(os.devnull, "w"))
    seconds = time.perf_counter() - started
    assert not UserSession.objects.exists(), UserSession.objects.count()
    assert not SessionToken.objects.exists() and not SessionClient.objects.exists()
    assert not BackchannelNotification.objects.exists()
    return seconds


def statement_kind(sql: str) -> str:
    """A statement's verb and table, e.g. 'UPDATE oauth2_provider_refreshtoken'."""
    words = sql.replace('"', " ").split()
    verb = words[0].upper() if words else "?"
    table = next((w for w in words[1:6] if "_" in w and w.upper() not in {"INTO", "FROM", "SET"}), "")
    return f"{verb} {table}".strip()


def print_time_split(statements: list[tuple[float, str]], commits: list[float], total: float) -> None:
    """Seconds per kind of statement, COMMIT (deferred constraint checks) and the rest (Python)."""
    per_kind: dict[str, list[float]] = {}
    for seconds, sql in statements:
        per_kind.setdefault(statement_kind(sql), []).append(seconds)
    in_sql = sum(seconds for seconds, _ in statements) + sum(commits)
    rows = sorted(((sum(v), len(v), k) for k, v in per_kind.items()), reverse=True)
    rows.append((sum(commits), len(commits), "COMMIT"))
    rows.append((total - in_sql, 0, "outside the database (Python, Django)"))
    print(f"{'seconds':>9}  {'share':>6}  {'count':>6}  statement", file=sys.stderr)
    for seconds, n, kind in rows:
        print(f"{seconds:9.2f}  {seconds / total:6.1%}  {n:6}  {kind}", file=sys.stderr)


def attach(args) -> None:
    """One node: run the command against the measurement's database, print when it ran."""
    from django.core.management import call_command
    from django.db import connection
    from django.test import override_settings

    switch_off_sending()
    counter = {"n": 0}

    slowest: list[tuple[float, str]] = []

    def count(execute, sql, params, many, context):
        counter["n"] += 1
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            slowest.append((time.perf_counter() - start, sql))

    commits: list[float] = []
    real_commit = connection._commit

    def timed_commit():  # the deferred foreign-key checks run here, outside execute_wrapper
        start = time.perf_counter()
        try:
            return real_commit()
        finally:
            commits.append(time.perf_counter() - start)

    connection._commit = timed_commit
    with override_settings(IDP_LOGOUT=bench_settings()), connection.execute_wrapper(count):
        connection.ensure_connection()
        profile_to = os.environ.get("BENCH_PROFILE")  # a cProfile output file per node
        profiler = cProfile.Profile() if profile_to else None
        started = time.time()
        if profiler:
            profiler.enable()
        call_command("idp_logout_expire_sessions", batch_size=args.batch_size, stdout=open(os.devnull, "w"))
        if profiler:
            profiler.disable()
            profiler.dump_stats(f"{profile_to}.{os.getpid()}")
        finished = time.time()
    if os.environ.get("BENCH_SHOW_SQL"):  # where the time went, then the slowest statements, to stderr
        print_time_split(slowest, commits, finished - started)
        for seconds, sql in sorted(slowest, reverse=True)[:12]:
            print(f"{seconds * 1000:9.1f} ms  {sql[:300]}", file=sys.stderr)
    print(json.dumps({"started": started, "finished": finished, "statements": counter["n"]}))


def measure(args) -> None:
    """Build a fresh database, let ``--processes`` nodes expire it at once, verify, report."""
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "postgresql":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_idp_bulk_{os.getpid()}"
        old_name = connection.settings_dict["NAME"]
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
        env = {"IDP_PG_NAME": connection.settings_dict["NAME"]}
    else:
        call_command("migrate", verbosity=0)
        env = {"IDP_SQLITE_PATH": os.environ["IDP_SQLITE_PATH"]}
    try:
        build(args.sessions, args.sessions_per_user)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # what autovacuum does on a live system after the bulk load
                cursor.execute("ANALYZE")
        connection.close()
        command = [
            sys.executable,
            __file__,
            "--attach",
            "--code",
            str(args.code),
            "--database",
            args.database,
        ]
        command += ["--batch-size", str(args.batch_size)]
        nodes = [
            subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
            for _ in range(int(args.processes))
        ]
        reports = []
        for node in nodes:
            out, _ = node.communicate()
            assert node.returncode == 0, out
            reports.append(json.loads(out.strip().splitlines()[-1]))
        seconds = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
        verify(args.sessions)
        sizes = table_sizes(args.sessions) if connection.vendor == "postgresql" else {}
        print(
            json.dumps(
                {
                    "sessions": args.sessions,
                    "processes": int(args.processes),
                    "seconds": seconds,
                    "statements": sum(r["statements"] for r in reports),
                    "cleanup_seconds": clean_up(args.sessions),
                    "bytes_per_session": sizes,
                }
            )
        )
    finally:
        if connection.vendor == "postgresql":
            connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)


def run_measurement(
    code: Path, database: str, sessions: int, processes: int, batch_size: int, sessions_per_user: int = 2
) -> dict:
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        env["IDP_SQLITE_PATH"] = str(Path(tmp) / "bench.sqlite3")
        command = [sys.executable, __file__, "--measure", "--code", str(code), "--database", database]
        command += [
            "--sessions",
            str(sessions),
            "--processes",
            str(processes),
            "--batch-size",
            str(batch_size),
            "--sessions-per-user",
            str(sessions_per_user),
        ]
        out = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--processes", default="1,2", help="nodes running the command at once, e.g. 1,2")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--sessions-per-user", type=int, default=2, help="sessions each user holds")
    parser.add_argument("--before", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--before-sessions", type=int, default=2000, help="sessions for the --before side")
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--attach", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure or args.attach:
        setup_django(args.code, args.database)
        return measure(args) if args.measure else attach(args)

    processes = [int(p) for p in args.processes.split(",")]
    if args.database == "sqlite" and processes != [1]:
        parser.error("SQLite has no row locks to share the work: use --processes 1")
    print(
        f"bulk ending -- {args.database}; Python {platform.python_version()}; {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    runs = []
    if args.before:
        runs.append(("before", args.before, args.before_sessions, 1))
    runs += [("this tree", ROOT, args.sessions, p) for p in processes]
    rows = []
    baseline = None
    sizes = {}
    for label, code, sessions, procs in runs:
        print(f"  [{label}] {sessions} sessions, {procs} process(es)...", flush=True)
        result = run_measurement(
            code, args.database, sessions, procs, args.batch_size, args.sessions_per_user
        )
        rate = result["sessions"] / result["seconds"]
        baseline = baseline or (rate if label == "before" else None)
        rows.append(
            [
                label,
                result["sessions"],
                procs,
                f"{result['seconds']:.1f}",
                f"{rate:.0f}",
                f"{result['statements'] / result['sessions']:.2f}",
                f"{rate / baseline:.0f}x" if baseline else "-",
                f"{result['sessions'] / result['cleanup_seconds']:.0f}",
            ]
        )
        sizes = result["bytes_per_session"]
    headers = [
        "code",
        "sessions",
        "processes",
        "seconds",
        "sessions/s",
        "statements/session",
        "vs before",
        "cleanup sessions/s",
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    print()
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    print(
        f"  * idp_logout_expire_sessions --batch-size {args.batch_size}; each session: 1 coordinated client with a "
        "back-channel URI, 2 x (ID, access, refresh token), 6 bindings; sending switched off; verified afterwards."
    )
    print("  * cleanup: idp_logout_cleanup --days 30 after ageing every ended session 40 days, one process.")
    print(f"  * load average {os.getloadavg()[0]:.1f} at the end")
    if sizes:
        print("\nbytes per session after ending (table / indexes), last run:")
        for table, (data, indexes) in sizes.items():
            print(f"  {table:24} {data:7.0f} / {indexes:7.0f}")


if __name__ == "__main__":
    main()
