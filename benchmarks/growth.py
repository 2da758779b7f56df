"""Growth: django-idp-logout at a million sessions and five million bound tokens (PostgreSQL).

    .venv/bin/python benchmarks/growth.py [--sessions 1000000] [--tokens-per-session 5]
        [--ended 0.10] [--expired 0.05] [--sessions-per-user 2] [--clients 3] [--small 1000]
        [--logouts 5] [--batch-size 1000] [--chunk 50000] [--build-workers 2] [--big-rows 10000]
        [--check-foreign-keys] [--keep]

What it measures, in one run on its own throw-away database (``test_idp_growth_<pid>``):

1. The data set, built with set-based SQL (``INSERT ... SELECT ... FROM generate_series``, table and
   column names from the models' ``_meta``, so swapped DOT models work): users, sessions with their
   device details, one client each, ``--tokens-per-session`` bound tokens each (access, refresh, ID
   token, access, refresh, ...; every access token with its ID token of the same triple, every refresh
   token with its access token), a fraction of sessions ended 40 days ago (their refresh tokens kept
   revoked and bound, their notification delivered: what ``idp_logout_cleanup`` removes) and a
   fraction idle for two hours (what ``idp_logout_expire_sessions`` ends). Chunks of ``--chunk``
   sessions, ``--build-workers`` at once; a superuser builds without the per-row foreign-key triggers
   unless ``--check-foreign-keys``. Then ``ANALYZE``, as autovacuum would.
2. One logout (``end_session`` of a live session with its tokens) first at ``--small`` sessions, then
   again after the data set has grown to ``--sessions``: the statements (``CaptureQueriesContext``,
   BEGIN and COMMIT included) must be as many at both sizes, and each statement's plan (plain
   ``EXPLAIN`` of the captured SQL and parameters, after the logout) is printed with its scans; a
   sequential scan of a table with at least ``--big-rows`` rows is flagged.
3. Expiry (``idp_logout_expire_sessions --queue-only``) over the idle fraction and clean-up
   (``idp_logout_cleanup --days 30``) over the ended fraction at full size, sessions/s, with the plans
   of the statements of their first batch.
4. Table and index sizes per table and bytes per session, before expiry and clean-up.

Sending is off (``BACKCHANNEL_DELIVERY = "worker"``: the outbox rows are written, nobody sends them).
The database is dropped at the end unless ``--keep``. ``BENCH_SHOW_SQL=1`` prints the time of each
build statement and the SQL of the first measured logout to stderr. The exit code is 1 when a logout ran a different number of statements at
the two sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
RETENTION_DAYS = 30
CPU_NOTE = (
    "CPU s: CPU time of this process and of its PostgreSQL backends (read from /proc; 0 when the server is "
    "remote). Much less than the wall time: the machine was busy, or the database waited for I/O."
)
KINDS = ("access_token", "refresh_token", "id_token")  # the order of a session's token slots


# --- Output ---------------------------------------------------------------------------------------


def print_table(
    title: str, headers: list[str], rows: list[list[object]], notes: list[str] = (), left: int = 99
) -> None:
    """A plain-text table; columns from index ``left`` on are left-aligned (text), the others right."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i >= left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    print()
    print(title)
    print("=" * len(title))
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))
    for note in notes:
        print(f"  * {note}")
    sys.stdout.flush()


def progress(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def short(table: str) -> str:
    return table.removeprefix("django_idp_logout_").removeprefix("oauth2_provider_")


def mb(size: int) -> str:
    return f"{size / 2**20:.1f}"


def database_cpu() -> float:
    """CPU seconds used so far by this connection's PostgreSQL backend (read from /proc when the
    server runs on this machine, else 0): with the wall time, what a quiet machine would take."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        if not Path(f"/proc/{pid}/comm").read_text().startswith("postgres"):
            return 0.0  # another machine's backend: this pid is some local process, or none
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu() -> float:
    """CPU seconds of this process and of its database backend."""
    return time.process_time() + database_cpu()


# --- Set-up ---------------------------------------------------------------------------------------


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["IDP_DATABASE"] = "postgres"
    import django

    django.setup()


def bench_settings() -> dict:
    return {
        "SESSION_IDLE_TIMEOUT": 3600,
        "COORDINATE_LIFETIME_WITH_USER_SESSION": True,
        "BACKCHANNEL_DELIVERY": "worker",  # queue, never send: sending is backchannel_fanout.py's
    }


def models() -> dict:
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import (
        get_access_token_model,
        get_application_model,
        get_id_token_model,
        get_refresh_token_model,
    )

    from django_idp_logout.models import BackchannelNotification, SessionClient, SessionToken, UserSession

    return {
        "user": get_user_model(),
        "application": get_application_model(),
        "usersession": UserSession,
        "sessionclient": SessionClient,
        "access_token": get_access_token_model(),
        "refresh_token": get_refresh_token_model(),
        "id_token": get_id_token_model(),
        "sessiontoken": SessionToken,
        "notification": BackchannelNotification,
    }


# --- Building the data set ------------------------------------------------------------------------


def insert_select(model, values: dict[str, str], source: str, params: dict) -> int:
    """One ``INSERT INTO <table> (...) SELECT ... FROM <source>``: ``values`` maps field names to SQL
    expressions over the source; every other column takes the field's default (one value for all
    rows), nullable ones without a default stay NULL. A unique or required field left out is an error
    rather than a silent constraint violation half-way through a million rows."""
    from django.db import connection
    from django.utils import timezone

    params = dict(params)
    columns, expressions = [], []
    for f in model._meta.concrete_fields:
        if f.name in values:
            expression = values[f.name]
        elif f.null and not f.has_default():
            continue
        elif f.primary_key or f.unique:
            raise ValueError(f"{model._meta.label}.{f.name}: unique, give it an expression")
        else:
            now = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            value = timezone.now() if now else f.get_default()
            if value is None:
                raise ValueError(f"{model._meta.label}.{f.name}: required and no default")
            key = f"default_{f.column}"
            params[key] = f.get_db_prep_save(value, connection)
            expression = f"%({key})s"
        columns.append(connection.ops.quote_name(f.column))
        expressions.append(expression)
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(expressions)} FROM {source}"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.rowcount
    if os.environ.get("BENCH_SHOW_SQL"):
        print(
            f"    {time.perf_counter() - started:7.2f} s  {rows:9,} rows  {short(model._meta.db_table)}",
            file=sys.stderr,
        )
    return rows


@dataclass
class DataSet:
    """What has been built so far (the builder appends chunk by chunk)."""

    sessions: int = 0
    ended: int = 0
    expired: int = 0
    live_ranges: list[tuple[int, int]] = field(default_factory=list)  # session pks [first, last]
    seconds: float = 0.0
    cpu: float = 0.0  # CPU seconds of the build (this process and the database backend)
    rows: int = 0
    applications: list[int] = field(default_factory=list)
    logged_out: int = 0  # live sessions ended by the logout measurements
    skip_fk_checks: bool = False  # superuser only: build without the per-row foreign-key triggers

    @property
    def live(self) -> int:
        return self.sessions - self.ended - self.expired


def slots(tokens_per_session: int) -> dict[str, int]:
    """How many tokens of each kind a session holds: slot k is KINDS[k % 3] of triple k // 3."""
    return {kind: len(range(i, tokens_per_session, 3)) for i, kind in enumerate(KINDS)}


def make_applications(count: int) -> list[int]:
    from django_idp_logout.models import ClientLogoutSettings

    Application = models()["application"]
    pks = []
    for i in range(count):
        app = Application.objects.create(
            name=f"Growth {i}",
            client_id=f"growth-{i}",
            client_type=Application.CLIENT_CONFIDENTIAL,
            client_secret="secret",
            hash_client_secret=False,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=f"https://rp{i}.example.com/cb",
            algorithm=Application.RS256_ALGORITHM,
        )
        ClientLogoutSettings.objects.create(
            application=app,
            coordinate_lifetime_with_user_session=True,
            backchannel_logout_uri=f"https://rp{i}.example.com/backchannel",
        )
        pks.append(app.pk)
    return pks


def next_pk(model) -> int:
    """The highest primary key in use (the chunk's ids follow it; sequences are reset afterwards)."""
    from django.db import connection

    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COALESCE(MAX({qn(model._meta.pk.column)}), 0) FROM {qn(model._meta.db_table)}"
        )
        return cursor.fetchone()[0]


@dataclass
class Chunk:
    """One transaction of the build: ``count`` sessions from position ``start`` of this build call."""

    start: int
    count: int
    first_session: int  # the global index of its first session (which client it gets)
    offsets: dict[str, int]  # each table's highest id when the build call began
    applications: list[int]
    skip_fk_checks: bool


@dataclass
class Built:
    sessions: int
    rows: int
    ended: int
    expired: int
    live_range: tuple[int, int]
    database_cpu: float


def build_chunk(chunk: Chunk, args) -> Built:
    """A chunk of sessions with everything they hold, in one transaction (on this thread's own
    connection: chunks are built side by side).

    Within the chunk, session j (0-based) is ended for j < ended_n, idle (to expire) for
    j < live_from, live otherwise. Every id is computed from the chunk's position, so the tables link
    up without reading anything back and chunks never collide."""
    from django.db import connection, transaction
    from django.utils import timezone

    m = models()
    per_kind = slots(args.tokens_per_session)
    count, start = chunk.count, chunk.start
    ended_n = round(count * args.ended)
    expired_n = round(count * args.expired)
    now = timezone.now()
    p = {
        "c": count,
        "ended_n": ended_n,
        "live_from": ended_n + expired_n,
        "g0": chunk.first_session,
        "spu": args.sessions_per_user,
        "t": args.tokens_per_session,
        "apps": chunk.applications,
        "na": len(chunk.applications),
        "now": now,
        "idle_since": now - timedelta(hours=2),
        "long_ago": now - timedelta(days=RETENTION_DAYS + 10),
        "started": now - timedelta(hours=3),
        "expires": now + timedelta(hours=1),
        "user_agent": USER_AGENT,
        "n_at": per_kind["access_token"],
        "n_rt": per_kind["refresh_token"],
        "n_id": per_kind["id_token"],
    }
    # The ids before the chunk's first row in each table: each session takes one id in the session,
    # client and notification tables, n of each token kind, t bindings; spu sessions share a user.
    per_session = {
        "usersession": 1,
        "sessionclient": 1,
        "access_token": per_kind["access_token"],
        "refresh_token": per_kind["refresh_token"],
        "id_token": per_kind["id_token"],
        "sessiontoken": args.tokens_per_session,
        "notification": 1,
    }
    p.update({f"{name}_base": chunk.offsets[name] + start * n for name, n in per_session.items()})
    p["user_base"] = chunk.offsets["user"] + start // args.sessions_per_user
    cpu_started = database_cpu()
    rows = 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO off")  # a bulk load, not a measurement
            if chunk.skip_fk_checks:
                # The ids link up by construction: no foreign-key trigger per row (half the build time).
                cursor.execute("SET LOCAL session_replication_role TO replica")
        app = "(%(apps)s)[1 + mod(%(g0)s + j, %(na)s)]"
        user = "%(user_base)s + 1 + j / %(spu)s"
        session = "%(usersession_base)s + 1 + j"
        ended = "j < %(ended_n)s"
        live_or_idle = "j >= %(ended_n)s"

        User = m["user"]
        users = -(-count // args.sessions_per_user)
        rows += insert_select(
            User,
            {
                User._meta.pk.name: "%(user_base)s + 1 + j",
                User.USERNAME_FIELD: "'growth-' || (%(user_base)s + 1 + j)",
                "password": "'!'",
            },
            "generate_series(0, %(users)s - 1) AS s(j)",
            {**p, "users": users},
        )
        rows += insert_select(
            m["usersession"],
            {
                "id": session,
                "sid": f"substr(md5('sid' || ({session})) || md5('sid2' || ({session})), 1, 43)",
                "user": user,
                "created_at": f"CASE WHEN {ended} THEN %(long_ago)s ELSE %(started)s END",
                "last_activity": (
                    "CASE WHEN j < %(ended_n)s THEN %(long_ago)s WHEN j < %(live_from)s THEN %(idle_since)s"
                    " ELSE %(now)s END"
                ),
                "ended_at": f"CASE WHEN {ended} THEN %(long_ago)s END",
                "end_reason": f"CASE WHEN {ended} THEN 'user_logout' ELSE '' END",
                "user_agent": "%(user_agent)s",
                "browser": "'Firefox 128'",
                "os": "'Linux'",
                "ip_address": "('10.' || mod(j / 65536, 256) || '.' || mod(j / 256, 256) || '.' || mod(j, 256))::inet",
            },
            "generate_series(0, %(c)s - 1) AS s(j)",
            p,
        )
        rows += insert_select(
            m["sessionclient"],
            {
                "id": "%(sessionclient_base)s + 1 + j",
                "user_session": session,
                "application": app,
                "joined_at": f"CASE WHEN {ended} THEN %(long_ago)s ELSE %(started)s END",
            },
            "generate_series(0, %(c)s - 1) AS s(j)",
            p,
        )

        def tokens(kind: str, n: str) -> str:
            """Session j's tokens of one kind: (j, t) for its t-th triple; ended sessions keep only
            their revoked refresh tokens."""
            where = "" if kind == "refresh_token" else f" WHERE {live_or_idle}"
            return f"(SELECT i / {n} AS j, mod(i, {n}) AS t FROM generate_series(0, %(c)s * {n} - 1) AS g(i)) s{where}"

        def checksum(token: str) -> str:
            return f"encode(sha256(convert_to({token}, 'UTF8')), 'hex')"

        id_token = "%(id_token_base)s + 1 + j * %(n_id)s + t"
        access_token = "%(access_token_base)s + 1 + j * %(n_at)s + t"
        refresh_token = "%(refresh_token_base)s + 1 + j * %(n_rt)s + t"
        if per_kind["id_token"]:
            rows += insert_select(
                m["id_token"],
                {
                    "id": id_token,
                    "user": user,
                    "application": app,
                    "jti": f"md5('jti' || ({id_token}))::uuid",
                    "expires": "%(expires)s",
                    "scope": "'openid profile email'",
                },
                tokens("id_token", "%(n_id)s"),
                p,
            )
        at_value = f"'at-' || md5('at' || ({access_token}))"
        rows += insert_select(
            m["access_token"],
            {
                "id": access_token,
                "user": user,
                "application": app,
                "token": at_value,
                "token_checksum": checksum(at_value),
                # the ID token of the same triple, when the session has one
                "id_token": f"CASE WHEN 3 * t + 2 < %(t)s THEN {id_token} END",
                "expires": "%(expires)s",
                "scope": "'openid profile email'",
            },
            tokens("access_token", "%(n_at)s"),
            p,
        )
        rt_value = f"'rt-' || md5('rt' || ({refresh_token}))"
        rows += insert_select(
            m["refresh_token"],
            {
                "id": refresh_token,
                "user": user,
                "application": app,
                "token": rt_value,
                "token_checksum": checksum(rt_value),
                "access_token": f"CASE WHEN {live_or_idle} THEN {access_token} END",
                "token_family": f"md5('family' || ({refresh_token}))::uuid",
                "revoked": f"CASE WHEN {ended} THEN %(long_ago)s END",
            },
            tokens("refresh_token", "%(n_rt)s"),
            p,
        )
        for slot, kind, expression, n in (
            (0, "access_token", access_token, "%(n_at)s"),
            (1, "refresh_token", refresh_token, "%(n_rt)s"),
            (2, "id_token", id_token, "%(n_id)s"),
        ):
            if per_kind[kind]:
                rows += insert_select(
                    m["sessiontoken"],
                    {
                        "id": f"%(sessiontoken_base)s + 1 + j * %(t)s + 3 * t + {slot}",
                        "user_session": session,
                        "application": app,
                        kind: expression,
                    },
                    tokens(kind, n),
                    p,
                )
        rows += insert_select(
            m["notification"],
            {
                "id": "%(notification_base)s + 1 + j",
                "user_session": session,
                "application": app,
                "uri": "'https://rp' || mod(%(g0)s + j, %(na)s) || '.example.com/backchannel'",
                "reason": "'user_logout'",
                "status": "'delivered'",
                "attempts": "1",
                "next_attempt_at": "%(long_ago)s",
                "last_status_code": "200",
                "created_at": "%(long_ago)s",
                "delivered_at": "%(long_ago)s",
            },
            "generate_series(0, %(ended_n)s - 1) AS s(j)",
            p,
        )
    first = p["usersession_base"] + 1
    return Built(
        count,
        rows,
        ended_n,
        expired_n,
        (first + ended_n + expired_n, first + count - 1),
        database_cpu() - cpu_started,
    )


def build_chunk_in_thread(chunk: Chunk, args) -> Built:
    from django.db import connection

    try:
        return build_chunk(chunk, args)
    finally:
        connection.close()


def build(data: DataSet, count: int, args, label: str) -> None:
    """``count`` more sessions, chunk by chunk, ``--build-workers`` chunks at a time."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from django.core.management.color import no_style
    from django.db import connection

    started, cpu_started = time.perf_counter(), cpu()
    if not data.applications:
        data.applications = make_applications(args.clients)
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('is_superuser') = 'on'")
            data.skip_fk_checks = cursor.fetchone()[0] and not args.check_foreign_keys
    offsets = {name: next_pk(model) for name, model in models().items() if name != "application"}
    chunks = [
        Chunk(
            start,
            min(args.chunk, count - start),
            data.sessions + start,
            offsets,
            data.applications,
            data.skip_fk_checks,
        )
        for start in range(0, count, args.chunk)
    ]
    done = 0
    with ThreadPoolExecutor(max_workers=args.build_workers) as pool:
        for future in as_completed([pool.submit(build_chunk_in_thread, chunk, args) for chunk in chunks]):
            built = future.result()
            data.rows += built.rows
            data.ended += built.ended
            data.expired += built.expired
            data.live_ranges.append(built.live_range)
            data.cpu += built.database_cpu
            done += built.sessions
            elapsed = time.perf_counter() - started
            progress(
                f"{label}: {done:,} / {count:,} sessions, {elapsed:.0f} s ({done / elapsed:,.0f} sessions/s)"
            )
    data.sessions += count
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(models().values())):
            cursor.execute(sql)
    analyze_started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # what autovacuum does on a live system after a bulk load
    progress(f"{label}: ANALYZE {time.perf_counter() - analyze_started:.1f} s")
    data.seconds += time.perf_counter() - started
    data.cpu += cpu() - cpu_started


# --- Plans ----------------------------------------------------------------------------------------


class Recorder:
    """An ``execute_wrapper`` keeping each statement with its parameters, for EXPLAIN afterwards."""

    def __init__(self, limit: int | None = None):
        self.statements: list[tuple[str, object]] = []
        self.count = 0
        self.limit = limit

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        if self.limit is None or len(self.statements) < self.limit:
            self.statements.append((sql, params[0] if many and params else params))
        return execute(sql, params, many, context)


def label(sql: str) -> str:
    """``SELECT usersession FOR UPDATE``: the verb and the main table of a statement."""
    words = sql.replace('"', "").lstrip("( ").split()
    verb = words[0].upper()
    table = ""
    after = {"SELECT": "FROM", "DELETE": "FROM", "INSERT": "INTO", "UPDATE": "UPDATE"}.get(verb)
    if after in (w.upper() for w in words):
        table = next(words[i + 1] for i, w in enumerate(words) if w.upper() == after).split(".")[0]
    extra = " FOR UPDATE" if "FOR UPDATE" in sql.upper() else ""
    extra += " (UNION)" if " UNION " in sql.upper() else ""
    return f"{verb} {short(table)}{extra}".strip()


def big_tables(threshold: int) -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace "
            "AND reltuples >= %s",
            [threshold],
        )
        return {row[0] for row in cursor.fetchall()}


def scans(plan: dict) -> list[tuple[str, str]]:
    """(node type, relation or index) of every scan in a plan tree."""
    found = []
    node_type = plan.get("Node Type", "")
    if node_type == "Seq Scan":
        found.append((node_type, plan["Relation Name"]))
    elif node_type in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
        found.append((node_type, plan["Index Name"]))
    for child in plan.get("Plans", []):
        found += scans(child)
    return found


def explain(statements: list[tuple[str, object]], big: set[str]) -> tuple[list[list[object]], int]:
    """Plain EXPLAIN of each recorded statement: its scans, flagged where a big table is read whole.
    Returns the table rows and the number of flagged statements."""
    from django.db import connection

    rows, flagged = [], 0
    abbreviations = {"Index Scan": "idx", "Index Only Scan": "idx-only", "Bitmap Index Scan": "bitmap"}
    for number, (sql, params) in enumerate(statements, 1):
        if not sql.lstrip("( ").upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT", "WITH")):
            rows.append([number, "", label(sql), "-"])
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        found = scans(plan[0]["Plan"])
        seq_big = [name for kind, name in found if kind == "Seq Scan" and name in big]
        flagged += bool(seq_big)
        text = ", ".join(
            dict.fromkeys(  # each scan once (a UNION repeats its joins)
                f"SEQ {short(name)}" if kind == "Seq Scan" else f"{abbreviations[kind]} {short(name)}"
                for kind, name in found
            )
        )
        rows.append([number, "BIG SEQ SCAN" if seq_big else "ok", label(sql), text or "(no scan)"])
    return rows, flagged


# --- Measurements ---------------------------------------------------------------------------------


@dataclass
class Logouts:
    sessions: int
    statements: list[int]
    seconds: list[float]
    plan_rows: list[list[object]]
    flagged: int


def measure_logouts(data: DataSet, args) -> Logouts:
    """End ``--logouts`` live sessions drawn at random, one ``end_session`` each; plans of the first."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from django_idp_logout.models import SessionToken, UserSession
    from django_idp_logout.services.sessions import end_session

    per_kind = slots(args.tokens_per_session)
    rng = random.Random(data.sessions)
    picks: list[UserSession] = []
    while len(picks) < args.logouts:  # live ones, not ended by an earlier measurement
        first, last = rng.choice(data.live_ranges)
        user_session = UserSession.objects.get(pk=rng.randint(first, last))
        if user_session.ended_at is None and user_session not in picks:
            picks.append(user_session)
    statements, seconds, recorded = [], [], None
    for user_session in picks:
        assert SessionToken.objects.filter(user_session=user_session).count() == args.tokens_per_session
        recorder = Recorder()
        with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(recorder):
            started = time.perf_counter()
            result = end_session(user_session=user_session, reason="user_logout")
            elapsed = time.perf_counter() - started
        assert result.ended_now
        counts = result.counts
        assert (counts.access_tokens, counts.refresh_tokens, counts.id_tokens) == (
            per_kind["access_token"],
            per_kind["refresh_token"],
            per_kind["id_token"],
        ), counts
        assert len(result.notification_ids) == 1, result.notification_ids
        statements.append(len(captured.captured_queries))
        seconds.append(elapsed)
        recorded = recorded or recorder.statements
        if os.environ.get("BENCH_SHOW_SQL") and user_session == picks[0]:
            for query in captured.captured_queries:
                print(f"    {float(query['time']) * 1000:7.2f} ms  {query['sql'][:400]}", file=sys.stderr)
    data.logged_out += len(picks)
    plan_rows, flagged = explain(recorded, big_tables(args.big_rows))
    return Logouts(data.sessions, statements, seconds, plan_rows, flagged)


@dataclass
class Bulk:
    name: str
    sessions: int
    seconds: float
    cpu: float
    statements: int
    plan_rows: list[list[object]]
    flagged: int


def first_batch(recorder: Recorder) -> list[tuple[str, object]]:
    """The statements up to the one that starts the second batch (the first one's label again)."""
    statements = recorder.statements
    first = label(statements[0][0]) if statements else ""
    for i, (sql, _params) in enumerate(statements[1:], 1):
        if label(sql) == first:
            return statements[:i]
    return statements


def measure_expiry(data: DataSet, args) -> Bulk:
    from django.core.management import call_command
    from django.db import connection

    from django_idp_logout.models import UserSession

    recorder = Recorder(limit=60)
    cpu_started = cpu()
    with connection.execute_wrapper(recorder):
        started = time.perf_counter()
        call_command(
            "idp_logout_expire_sessions",
            batch_size=args.batch_size,
            queue_only=True,
            stdout=open(os.devnull, "w"),
        )
        seconds = time.perf_counter() - started
    cpu_seconds = cpu() - cpu_started
    expired = UserSession.objects.filter(end_reason="session_expiration").count()
    assert expired == data.expired, (expired, data.expired)
    assert UserSession.objects.active().count() == data.live - data.logged_out
    plan_rows, flagged = explain(first_batch(recorder), big_tables(args.big_rows))
    return Bulk("expiry", expired, seconds, cpu_seconds, recorder.count, plan_rows, flagged)


def measure_cleanup(data: DataSet, args) -> Bulk:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from django_idp_logout.models import UserSession

    before = UserSession.objects.count()
    recorder = Recorder(limit=60)
    cpu_started = cpu()
    with connection.execute_wrapper(recorder):
        started = time.perf_counter()
        call_command(
            "idp_logout_cleanup",
            days=RETENTION_DAYS,
            batch_size=args.batch_size,
            stdout=open(os.devnull, "w"),
        )
        seconds = time.perf_counter() - started
    cpu_seconds = cpu() - cpu_started
    deleted = before - UserSession.objects.count()
    assert deleted == data.ended, (deleted, data.ended)
    cutoff = timezone.now() - timedelta(days=RETENTION_DAYS)
    assert not UserSession.objects.filter(ended_at__lt=cutoff).exists()
    plan_rows, flagged = explain(first_batch(recorder), big_tables(args.big_rows))
    return Bulk("cleanup", deleted, seconds, cpu_seconds, recorder.count, plan_rows, flagged)


def table_sizes() -> dict[str, tuple[str, int, int, int]]:
    """(table, rows, heap + TOAST bytes, index bytes) of every table the data set fills."""
    from django.db import connection

    sizes = {}
    with connection.cursor() as cursor:
        for name, model in models().items():
            if name == "application":
                continue
            table = model._meta.db_table
            cursor.execute(
                f"SELECT count(*), pg_table_size(%s), pg_indexes_size(%s) FROM {connection.ops.quote_name(table)}",
                [table, table],
            )
            sizes[name] = (table, *cursor.fetchone())
    return sizes


# --- Main -----------------------------------------------------------------------------------------


def report_logouts(small: Logouts, full: Logouts) -> bool:
    rows = [
        [
            f"{run.sessions:,}",
            len(run.statements),
            "/".join(str(n) for n in sorted(set(run.statements))),
            f"{statistics.median(run.seconds) * 1000:.1f}",
            f"{max(run.seconds) * 1000:.1f}",
            run.flagged,
        ]
        for run in (small, full)
    ]
    flat = set(small.statements) == set(full.statements) and len(set(full.statements)) == 1
    print_table(
        "1. One logout: end_session of a live session with its tokens, at both sizes",
        ["sessions", "logouts", "statements", "median ms", "max ms", "statements with a big seq scan"],
        rows,
        [
            "Statements: CaptureQueriesContext, BEGIN and COMMIT included; one notification queued each. "
            "Times include its debug-cursor overhead.",
            "FLAT: the same statement count at both sizes."
            if flat
            else "NOT FLAT: the statement count differs between the sizes.",
        ],
    )
    for run in (small, full):
        print_table(
            f"   Plans of one logout at {run.sessions:,} sessions (plain EXPLAIN of the captured statements)",
            ["#", "flag", "statement", "scans"],
            run.plan_rows,
            left=2,
        )
    return flat


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--tokens-per-session", type=int, default=5, help="bound tokens of a live session")
    parser.add_argument("--ended", type=float, default=0.10, help="fraction ended 40 days ago (clean-up)")
    parser.add_argument("--expired", type=float, default=0.05, help="fraction idle for 2 hours (expiry)")
    parser.add_argument("--sessions-per-user", type=int, default=2)
    parser.add_argument("--clients", type=int, default=3, help="applications; each session has one")
    parser.add_argument("--small", type=int, default=1000, help="sessions of the first, small size")
    parser.add_argument("--logouts", type=int, default=5, help="logouts measured at each size")
    parser.add_argument("--batch-size", type=int, default=1000, help="expiry and clean-up batch size")
    parser.add_argument("--chunk", type=int, default=50_000, help="sessions per build transaction")
    parser.add_argument(
        "--build-workers", type=int, default=2, help="chunks built at once, each on its own connection"
    )
    parser.add_argument(
        "--big-rows", type=int, default=10_000, help="a table this big must not be seq-scanned"
    )
    parser.add_argument(
        "--check-foreign-keys",
        action="store_true",
        help="build with the foreign-key triggers on (slower; without, a superuser skips them)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args(argv)
    if not 0 < args.small < args.sessions:
        parser.error("--small must be between 0 and --sessions")
    if args.small % args.sessions_per_user or args.chunk % args.sessions_per_user:
        parser.error("--small and --chunk must be multiples of --sessions-per-user (a user per chunk)")
    if args.tokens_per_session < 2 or args.ended + args.expired >= 0.9:
        parser.error("a session needs an access and a refresh token, and most sessions must be live")

    setup_django()
    import django
    import oauth2_provider
    from django.db import connection
    from django.test import override_settings

    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_idp_growth_{os.getpid()}"
    old_name = connection.settings_dict["NAME"]
    run_started = time.perf_counter()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    database = connection.settings_dict["NAME"]
    flat = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        print(
            f"growth -- PostgreSQL {version} (database {database}); Python {platform.python_version()}, "
            f"Django {django.get_version()}, DOT {oauth2_provider.__version__}; {os.cpu_count()} CPUs; "
            f"load average {os.getloadavg()[0]:.1f} at start"
        )
        with override_settings(IDP_LOGOUT=bench_settings(), DEBUG=False):
            data = DataSet()
            build(data, args.small, args, "small")
            small = measure_logouts(data, args)
            build(data, args.sessions - args.small, args, "grow")
            sizes = table_sizes()
            counts = {name: rows for name, (_table, rows, _data, _indexes) in sizes.items()}
            full = measure_logouts(data, args)
            progress("expiry...")
            expiry = measure_expiry(data, args)
            progress("clean-up...")
            cleanup = measure_cleanup(data, args)

        per_kind = slots(args.tokens_per_session)
        print_table(
            "0. The data set",
            [
                "sessions",
                "live",
                "idle (expire)",
                "ended (clean up)",
                "users",
                "bindings",
                "tokens",
                "rows",
                "build s",
                "CPU s",
                "rows/s",
            ],
            [
                [
                    f"{data.sessions:,}",
                    f"{data.live:,}",
                    f"{data.expired:,}",
                    f"{data.ended:,}",
                    f"{counts['user']:,}",
                    f"{counts['sessiontoken']:,}",
                    f"{counts['access_token'] + counts['refresh_token'] + counts['id_token']:,}",
                    f"{data.rows:,}",
                    f"{data.seconds:.0f}",
                    f"{data.cpu:.0f}",
                    f"{data.rows / data.seconds:,.0f}",
                ]
            ],
            [
                f"A live or idle session: 1 client (of {args.clients}, coordinated, with a back-channel URI), "
                f"{args.tokens_per_session} bound tokens ({per_kind['access_token']} access, "
                f"{per_kind['refresh_token']} refresh, {per_kind['id_token']} ID), device details; "
                f"{args.sessions_per_user} sessions per user.",
                "An ended session (40 days ago): its client, its revoked refresh tokens still bound, one "
                "delivered notification.",
                "Built with INSERT ... SELECT FROM generate_series, a transaction per "
                f"{args.chunk:,} sessions, then ANALYZE; build time includes ANALYZE; foreign-key triggers "
                + (
                    "off during the build (session_replication_role = replica; the ids link up by construction)."
                    if data.skip_fk_checks
                    else "on."
                ),
                CPU_NOTE,
            ],
        )
        flat = report_logouts(small, full)
        bulk_rows = [
            [
                run.name,
                f"{run.sessions:,}",
                f"{run.seconds:.1f}",
                f"{run.cpu:.1f}",
                f"{run.sessions / run.seconds:,.0f}",
                run.statements,
                f"{run.statements / max(1, -(-run.sessions // args.batch_size)):.1f}",
                run.flagged,
            ]
            for run in (expiry, cleanup)
        ]
        print_table(
            f"2. Expiry and clean-up at {data.sessions:,} sessions",
            [
                "command",
                "sessions",
                "seconds",
                "CPU s",
                "sessions/s",
                "statements",
                "per batch",
                "big seq scans (batch 1)",
            ],
            bulk_rows,
            [
                f"expiry: idp_logout_expire_sessions --batch-size {args.batch_size} --queue-only "
                "(SESSION_IDLE_TIMEOUT=3600; each idle session's tokens revoked, one notification queued).",
                f"clean-up: idp_logout_cleanup --days {RETENTION_DAYS} --batch-size {args.batch_size} (sessions "
                "ended 40 days ago, with their clients, bindings and delivered notifications).",
                "Statements: through the cursor (execute_wrapper), BEGIN/COMMIT not counted.",
                CPU_NOTE,
            ],
        )
        for run in (expiry, cleanup):
            print_table(
                f"   Plans of the first {run.name} batch",
                ["#", "flag", "statement", "scans"],
                run.plan_rows,
                left=2,
            )
        sizes = list(sizes.values())
        total_bytes = sum(data_bytes + index_bytes for _t, _r, data_bytes, index_bytes in sizes)
        print_table(
            f"3. Table and index sizes at {data.sessions:,} sessions (before expiry and clean-up)",
            ["table", "rows", "table MB", "index MB", "table B/session", "index B/session"],
            [
                [short(t), f"{r:,}", mb(d), mb(i), f"{d / data.sessions:.0f}", f"{i / data.sessions:.0f}"]
                for t, r, d, i in sizes
            ]
            + [
                [
                    "total",
                    "",
                    mb(sum(s[2] for s in sizes)),
                    mb(sum(s[3] for s in sizes)),
                    f"{sum(s[2] for s in sizes) / data.sessions:.0f}",
                    f"{sum(s[3] for s in sizes) / data.sessions:.0f}",
                ]
            ],
            [
                "table: pg_table_size (heap and TOAST), index: pg_indexes_size; per session: divided by all "
                "sessions (live, idle and ended).",
                f"{total_bytes / data.sessions:,.0f} bytes per session in all.",
            ],
        )
        print(
            f"\nTotal {time.perf_counter() - run_started:.0f} s; load average {os.getloadavg()[0]:.1f} at the end"
        )
    finally:
        if args.keep:
            connection.close()
            print(f"Kept database {database} (psql -h 127.0.0.1 -U postgres {database}; drop it when done).")
        else:
            connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
