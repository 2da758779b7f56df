"""Benchmarks of django-idp-logout against plain django-oauth-toolkit (DOT).

    .venv/bin/python benchmarks/session_logout.py [--database sqlite|postgres] [--only end|token|expiry]
        [--sizes 1,100,1000,10000] [--dot-limit SECONDS] [--token-requests 200] [--token-block 20]
        [--expiry-sessions 100000]

``--only`` may be repeated. ``BENCH_SHOW_SQL=1`` prints the statements of every measured logout with
fewer than 50 of them (to stderr).

Three tables (see docs/benchmarks.md):

1. end   -- ending a session holding N access + N refresh + N ID tokens with ``end_session`` versus
            DOT's RP-Initiated Logout token deletion (``RPInitiatedLogoutView.do_logout``, real code).
2. token -- median cost of a token request (code exchange, refresh) with the session-binding validator
            and backend versus DOT's defaults, interleaved in blocks.
3. expiry -- throughput of ``expire_sessions`` over many idle sessions.

The script creates its own throw-away test database (in-memory for SQLite, ``test_idp_bench_<pid>`` on
PostgreSQL) and destroys it at the end. It never touches the development database.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import platform
import secrets
import statistics
import sys
import time
import uuid
from collections import deque
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
REDIRECT_URI = "https://rp.example.com/callback"
BATCH = 2000


# --- Output ---------------------------------------------------------------------------------------


def print_table(title: str, headers: list[str], rows: list[list[object]], notes: list[str] = ()) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    print()
    print(title)
    print("=" * len(title))
    print("  ".join(h.rjust(w) for h, w in zip(cells[0], widths, strict=True)))
    print(line)
    for row in cells[1:]:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    for note in notes:
        print(f"  * {note}")
    sys.stdout.flush()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}" if seconds < 10 else f"{seconds * 1000:.0f}"


# --- Helpers --------------------------------------------------------------------------------------


class QueryCounter:
    """A cheap ``execute_wrapper``: counts statements without DEBUG's per-query bookkeeping."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def counting_queries():
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        yield counter


@contextmanager
def capture_all_queries():
    """``CaptureQueriesContext`` without its 9000-statement cap (DOT's logout runs far more)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    connection.queries_log = deque(maxlen=None)
    captured = CaptureQueriesContext(connection)
    try:
        with captured:
            yield captured
    finally:
        captured.statements = len(captured.captured_queries)
        if os.environ.get("BENCH_SHOW_SQL") and captured.statements < 50:
            for query in captured.captured_queries:
                print(f"    {float(query['time']) * 1000:7.2f} ms  {query['sql'][:160]}", file=sys.stderr)
        connection.queries_log = deque(maxlen=connection.queries_limit)


def models():
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import (
        get_access_token_model,
        get_application_model,
        get_grant_model,
        get_id_token_model,
        get_refresh_token_model,
    )

    from django_idp_logout.models import ClientLogoutSettings, SessionClient, SessionToken, UserSession

    return {
        "User": get_user_model(),
        "Application": get_application_model(),
        "AccessToken": get_access_token_model(),
        "RefreshToken": get_refresh_token_model(),
        "IDToken": get_id_token_model(),
        "Grant": get_grant_model(),
        "UserSession": UserSession,
        "SessionClient": SessionClient,
        "SessionToken": SessionToken,
        "ClientLogoutSettings": ClientLogoutSettings,
    }


def wipe() -> None:
    """Empty every table the benchmarks fill, one raw DELETE each (FKs are checked at commit)."""
    from django.apps import apps
    from django.contrib.sessions.models import Session
    from django.db import connection, transaction

    m = models()
    order = [
        "RefreshToken",
        "AccessToken",
        "IDToken",
        "Grant",
        "ClientLogoutSettings",
        "Application",
        "User",
    ]
    with transaction.atomic():
        for model in apps.get_app_config("django_idp_logout").get_models():  # sessions, bindings, outbox...
            if model is not m["ClientLogoutSettings"]:
                model.objects.all()._raw_delete(connection.alias)
        m["AccessToken"].objects.update(source_refresh_token=None)
        for name in order:
            m[name].objects.all()._raw_delete(connection.alias)
        Session.objects.all()._raw_delete(connection.alias)


def make_application(tag: str, *, coordinate: bool | None = None):
    m = models()
    Application = m["Application"]
    app = Application.objects.create(
        name=f"Bench {tag}",
        client_id=f"bench-{tag}",
        client_type=Application.CLIENT_CONFIDENTIAL,
        client_secret=f"secret-{tag}-{secrets.token_hex(24)}",
        hash_client_secret=False,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    app.raw_client_secret = app.client_secret
    if coordinate is not None:
        m["ClientLogoutSettings"].objects.create(
            application=app, coordinate_lifetime_with_user_session=coordinate
        )
    return app


def make_user(username: str):
    User = models()["User"]
    user = User(username=username)
    user.set_unusable_password()
    user.save()
    return user


# --- 1. Ending a session with N tokens -----------------------------------------------------------


def build_session_with_tokens(n: int, tag: str):
    """One user, one coordinated client, one session holding N access + N refresh + N ID tokens."""
    from django.utils import timezone

    m = models()
    user = make_user(f"end-{tag}")
    app = make_application(f"end-{tag}", coordinate=True)
    user_session = m["UserSession"].objects.create(user=user)
    m["SessionClient"].objects.create(user_session=user_session, application=app)
    expires = timezone.now() + timedelta(hours=1)

    def checksum(value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()

    id_tokens = m["IDToken"].objects.bulk_create(
        [
            m["IDToken"](user=user, application=app, jti=uuid.uuid4(), expires=expires, scope="openid")
            for _ in range(n)
        ],
        batch_size=BATCH,
    )
    access_values = [f"at-{tag}-{i}-{secrets.token_urlsafe(16)}" for i in range(n)]
    access_tokens = m["AccessToken"].objects.bulk_create(
        [
            m["AccessToken"](
                user=user,
                application=app,
                token=value,
                token_checksum=checksum(value),
                id_token=id_token,
                expires=expires,
                scope="openid",
            )
            for value, id_token in zip(access_values, id_tokens, strict=True)
        ],
        batch_size=BATCH,
    )
    refresh_values = [f"rt-{tag}-{i}-{secrets.token_urlsafe(16)}" for i in range(n)]
    refresh_tokens = m["RefreshToken"].objects.bulk_create(
        [
            m["RefreshToken"](
                user=user,
                application=app,
                token=value,
                token_checksum=checksum(value),
                access_token=access_token,
                token_family=uuid.uuid4(),
            )
            for value, access_token in zip(refresh_values, access_tokens, strict=True)
        ],
        batch_size=BATCH,
    )
    assert all(t.pk for t in (*id_tokens, *access_tokens, *refresh_tokens)), "bulk_create returned no pks"
    SessionToken = m["SessionToken"]
    bindings = [SessionToken(user_session=user_session, application=app, id_token=t) for t in id_tokens]
    bindings += [
        SessionToken(user_session=user_session, application=app, access_token=t) for t in access_tokens
    ]
    bindings += [
        SessionToken(user_session=user_session, application=app, refresh_token=t) for t in refresh_tokens
    ]
    SessionToken.objects.bulk_create(bindings, batch_size=BATCH)
    assert m["AccessToken"].objects.filter(user=user).count() == n
    assert m["RefreshToken"].objects.filter(user=user, revoked__isnull=True).count() == n
    assert m["IDToken"].objects.filter(user=user).count() == n
    assert SessionToken.objects.filter(user_session=user_session).count() == 3 * n
    return user, app, user_session


def check_all_revoked(user, n: int, label: str) -> None:
    m = models()
    left = {
        "access tokens": m["AccessToken"].objects.filter(user=user).count(),
        "ID tokens": m["IDToken"].objects.filter(user=user).count(),
        "live refresh tokens": m["RefreshToken"].objects.filter(user=user, revoked__isnull=True).count(),
    }
    revoked = m["RefreshToken"].objects.filter(user=user, revoked__isnull=False).count()
    assert not any(left.values()) and revoked == n, f"{label}, N={n}: left {left}, revoked refresh {revoked}"


def measure_ours(n: int, tag: str) -> tuple[int, float]:

    from django_idp_logout.services.sessions import end_session

    user, _app, user_session = build_session_with_tokens(n, tag)
    with capture_all_queries() as captured:
        start = time.perf_counter()
        result = end_session(user_session=user_session, reason="user_logout")
        elapsed = time.perf_counter() - start
    statements = captured.statements
    assert result.ended_now
    counts = result.counts
    assert (counts.refresh_tokens, counts.access_tokens, counts.id_tokens) == (n, n, n), counts
    check_all_revoked(user, n, "end_session")
    return statements, elapsed


def measure_dot(n: int, tag: str) -> tuple[int, float]:
    """DOT's own logout path: the real ``RPInitiatedLogoutView.do_logout`` with token deletion on
    (``django.contrib.auth.logout`` patched out: there is no browser session to end here)."""
    from unittest import mock

    from django.conf import settings
    from django.test import RequestFactory, override_settings
    from oauth2_provider.views.oidc import RPInitiatedLogoutView

    user, app, _user_session = build_session_with_tokens(n, tag)
    request = RequestFactory().get("/o/logout/")
    request.user = user
    view = RPInitiatedLogoutView()
    view.setup(request)
    dot_settings = {**settings.OAUTH2_PROVIDER, "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": True}
    with (
        override_settings(OAUTH2_PROVIDER=dot_settings),
        mock.patch("oauth2_provider.views.oidc.logout") as fake_logout,
        capture_all_queries() as captured,
    ):
        start = time.perf_counter()
        response = view.do_logout(application=app, token_user=user)
        elapsed = time.perf_counter() - start
    statements = captured.statements
    assert response.status_code == 302 and fake_logout.called
    check_all_revoked(user, n, "DOT do_logout")
    return statements, elapsed


def bench_end(sizes: list[int], dot_limit: float) -> None:
    rows = []
    notes = []
    last_dot: tuple[int, float] | None = None
    # Warm-up (untimed): first-use costs (imports, caches, prepared statements) of both paths.
    wipe()
    measure_ours(1, "warmup-ours")
    measure_dot(1, "warmup-dot")
    for n in sizes:
        wipe()
        our_queries, our_time = measure_ours(n, f"ours{n}")
        wipe()
        estimate = last_dot[1] * n / last_dot[0] if last_dot else None
        if estimate is not None and estimate > dot_limit:
            dot_queries, dot_ms, speedup = "-", f"skipped (est. {estimate:.0f} s)", "-"
            notes.append(
                f"DOT at N={n} not run: estimated {estimate:.0f} s from the N={last_dot[0]} run "
                f"(linear), over the --dot-limit of {dot_limit:.0f} s."
            )
        else:
            dot_queries, dot_time = measure_dot(n, f"dot{n}")
            last_dot = (n, dot_time)
            ratio = dot_time / our_time
            dot_ms, speedup = ms(dot_time), f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x"
        wipe()
        rows.append([n, our_queries, ms(our_time), dot_queries, dot_ms, speedup])
        print(f"  [end] N={n} done", file=sys.stderr, flush=True)
    notes += [
        "ours: end_session(user_session=..., reason='user_logout'), one transaction incl. commit.",
        "DOT: RPInitiatedLogoutView.do_logout with OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS=True, "
        "autocommit per statement as in a request.",
        "Queries: statements seen by CaptureQueriesContext (BEGIN/COMMIT/SAVEPOINT included); the times "
        "include its debug-cursor overhead on both sides.",
        "Both verified afterwards: every access and ID token deleted, all N refresh tokens revoked.",
    ]
    print_table(
        "1. Ending a session holding N access + N refresh + N ID tokens",
        ["N", "ours queries", "ours ms", "DOT queries", "DOT ms", "speed-up"],
        rows,
        notes,
    )


# --- 2. Token endpoint cost ----------------------------------------------------------------------

CONFIGS = {
    "ours": {
        "OAUTH2_VALIDATOR_CLASS": "django_idp_logout.oauth.validator.IdpLogoutOAuth2Validator",
        "OAUTH2_BACKEND_CLASS": "django_idp_logout.oauth.backend.IdpLogoutOAuthLibCore",
    },
    # The same classes, for a client whose tokens are coordinated with the session: the token
    # endpoint then also takes the session row lock that closes the race with logout.
    "ours-coordinated": {
        "OAUTH2_VALIDATOR_CLASS": "django_idp_logout.oauth.validator.IdpLogoutOAuth2Validator",
        "OAUTH2_BACKEND_CLASS": "django_idp_logout.oauth.backend.IdpLogoutOAuthLibCore",
    },
    "plain": {
        "OAUTH2_VALIDATOR_CLASS": "oauth2_provider.oauth2_validators.OAuth2Validator",
        "OAUTH2_BACKEND_CLASS": "oauth2_provider.oauth2_backends.OAuthLibCore",
    },
    # DOT with only the read-once look-ups that ours is built on, and no binding: ours against this
    # is what binding tokens to sessions costs by itself.
    "read-once": {
        "OAUTH2_VALIDATOR_CLASS": "benchmarks.read_once_validator.ReadOnceOAuth2Validator",
        "OAUTH2_BACKEND_CLASS": "oauth2_provider.oauth2_backends.OAuthLibCore",
    },
}


class TokenClient:
    """A signed-in browser (for /o/authorize/) and a cookie-less RP back end (for /o/token/)."""

    def __init__(self, user, app):
        from django.test import Client

        self.app = app
        self.browser = Client()
        self.browser.force_login(user)
        self.rp = Client()
        self.refresh_token = None
        self.count_next = False
        self.last_queries = 0

    def authorize(self) -> tuple[str, str]:
        from django.urls import reverse

        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.app.client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid",
                "state": "s",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        response = self.browser.get(f"{reverse('oauth2_provider:authorize')}?{query}")
        assert response.status_code == 302, response.content[:500]
        return parse_qs(urlsplit(response["Location"]).query)["code"][0], verifier

    def _post(self, data: dict) -> float:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext
        from django.urls import reverse

        data = {**data, "client_id": self.app.client_id, "client_secret": self.app.raw_client_secret}
        if self.count_next:
            with CaptureQueriesContext(connection) as captured:
                response = self.rp.post(reverse("oauth2_provider:token"), data)
            self.count_next, self.last_queries = False, len(captured.captured_queries)
            elapsed = 0.0
        else:
            start = time.perf_counter()
            response = self.rp.post(reverse("oauth2_provider:token"), data)
            elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.content[:500]
        body = response.json()
        assert body.get("id_token") and body.get("refresh_token"), body
        self.refresh_token = body["refresh_token"]
        return elapsed

    def exchange(self) -> float:
        """Authorize (untimed), then the timed code exchange."""
        code, verifier = self.authorize()
        return self._post(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            }
        )

    def refresh(self) -> float:
        return self._post({"grant_type": "refresh_token", "refresh_token": self.refresh_token})


def bench_token(requests: int, block: int) -> None:
    from django.conf import settings
    from django.test import override_settings

    wipe()
    m = models()
    SessionToken = m["SessionToken"]
    base = {**settings.OAUTH2_PROVIDER, "ALWAYS_RELOAD_OAUTHLIB_CORE": True}
    clients = {}
    for name in CONFIGS:
        # "ours": a client whose own setting is No (the global default now follows DOT's
        # OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS, True, so "inherit" would be coordinated too).
        coordinate = name == "ours-coordinated"
        clients[name] = TokenClient(
            make_user(f"token-{name}"), make_application(f"token-{name}", coordinate=coordinate)
        )

    def configured(name):
        return override_settings(OAUTH2_PROVIDER={**base, **CONFIGS[name]})

    # Warm-up (untimed) and the statement count of one request of each kind.
    queries = {}
    for name, client in clients.items():
        with configured(name):
            for _ in range(3):
                client.exchange()
                client.refresh()
            counts = []
            for kind in ("exchange", "refresh"):
                client.count_next = True  # the token POST only, not the authorize step
                getattr(client, kind)()
                counts.append(client.last_queries)
            queries[name] = tuple(counts)

    times = {(name, kind): [] for name in CONFIGS for kind in ("exchange", "refresh")}
    bindings = {key: 0 for key in times}
    for kind in ("exchange", "refresh"):
        for index in range(requests // block):
            order = list(CONFIGS) if index % 2 == 0 else list(reversed(CONFIGS))
            for name in order:
                client = clients[name]
                before = SessionToken.objects.count()
                with configured(name):
                    for _ in range(block):
                        times[(name, kind)].append(getattr(client, kind)())
                bindings[(name, kind)] += SessionToken.objects.count() - before
        print(f"  [token] {kind} done", file=sys.stderr, flush=True)
    # The two configurations really differ: ours binds every token, plain DOT binds none. Net new
    # bindings: 3 per exchange (access, refresh, ID token; the code's binding goes with the code),
    # 2 per refresh (3 new, the rotated-out access token's binding goes with it).
    done = requests // block * block
    expected = {
        (name, kind): (3 if kind == "exchange" else 2) * done
        for name in ("ours", "ours-coordinated")
        for kind in ("exchange", "refresh")
    }
    assert all(bindings[key] == expected.get(key, 0) for key in bindings), bindings

    rows = []
    for variant in ("ours", "ours-coordinated"):
        for kind, label in (("exchange", "code exchange"), ("refresh", "refresh")):
            median = {name: statistics.median(times[(name, kind)]) for name in CONFIGS}
            ratio = median[variant] / median["plain"]
            index = 0 if kind == "exchange" else 1
            rows.append(
                [
                    f"{label} ({'coordinated' if variant != 'ours' else 'uncoordinated'})",
                    len(times[(variant, kind)]),
                    f"{median[variant] * 1000:.2f}",
                    f"{median['plain'] * 1000:.2f}",
                    f"{ratio:.3f}",
                    "PASS" if ratio <= 1.15 else "FAIL",
                    f"{median['read-once'] * 1000:.2f}",
                    f"{median[variant] / median['read-once']:.3f}",
                    f"{queries[variant][index]} / {queries['plain'][index]} / {queries['read-once'][index]}",
                ]
            )
    print_table(
        "2. Token endpoint: median per POST /o/token/, session binding (ours) vs plain DOT",
        [
            "request",
            "n each",
            "ours ms",
            "plain ms",
            "ours/plain",
            "<=1.15",
            "read-once ms",
            "ours/read-once",
            "queries ours / plain / read-once",
        ],
        rows,
        [
            f"{requests} requests of each kind per configuration, interleaved in alternating blocks of {block}.",
            "Only the token POST is timed (the authorize step before each code exchange is not).",
            "Scope openid, RS256, confidential client, PKCE; refreshes chain with rotation.",
            "read-once: DOT plus only the read-once look-ups ours is built on, no binding; "
            "ours/read-once is what binding costs by itself.",
            "plain and read-once run with this app installed: DOT's deletes of a code and of a rotated "
            "access token cascade to the binding table (1 statement each).",
            "Queries: statements of one token POST of each kind (BEGIN/COMMIT/SAVEPOINT included), "
            "counted after warm-up, untimed.",
        ],
    )


# --- 3. Expiry throughput ------------------------------------------------------------------------


def bench_expiry(total: int, default: int) -> None:
    from django.test import override_settings
    from django.utils import timezone

    from django_idp_logout.services.expiry import expire_sessions

    wipe()
    m = models()
    User, UserSession = m["User"], m["UserSession"]
    users = User.objects.bulk_create([User(username=f"exp-{i}", password="!") for i in range(100)])
    two_hours_ago = timezone.now() - timedelta(hours=2)
    for offset in range(0, total, 5000):
        UserSession.objects.bulk_create(
            [
                UserSession(user=users[i % len(users)], created_at=two_hours_ago, last_activity=two_hours_ago)
                for i in range(offset, min(total, offset + 5000))
            ],
            batch_size=5000,
        )
    assert UserSession.objects.active().count() == total
    with override_settings(IDP_LOGOUT={"SESSION_IDLE_TIMEOUT": 3600}), counting_queries() as counter:
        start = time.perf_counter()
        ended = expire_sessions(batch_size=1000)
        elapsed = time.perf_counter() - start
    assert ended == total, (ended, total)
    assert UserSession.objects.active().count() == 0
    assert UserSession.objects.filter(end_reason="session_expiration").count() == total
    notes = [
        "expire_sessions(batch_size=1000), SESSION_IDLE_TIMEOUT=3600, every session idle for 2 hours, "
        "no tokens bound.",
        "Queries: statements sent through the cursor (execute_wrapper), SAVEPOINTs included, the "
        "per-batch COMMIT not.",
        "Checked afterwards: every session ended with reason session_expiration.",
    ]
    if total != default:
        notes.append(f"Run with --expiry-sessions {total} (default {default}) to keep the whole run short.")
    print_table(
        "3. Expiry: expire_sessions throughput",
        ["sessions", "seconds", "sessions/s", "queries", "queries/session"],
        [[total, f"{elapsed:.1f}", f"{total / elapsed:.0f}", counter.count, f"{counter.count / total:.2f}"]],
        notes,
    )


# --- Main -----------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--only", choices=["end", "token", "expiry"], action="append")
    parser.add_argument("--sizes", default="1,100,1000,10000", help="token counts N for the end table")
    parser.add_argument(
        "--dot-limit",
        type=float,
        default=60.0,
        help="skip DOT at an N whose time, estimated linearly from the previous DOT run, exceeds this (s)",
    )
    parser.add_argument("--token-requests", type=int, default=200, help="requests of each kind per config")
    parser.add_argument("--token-block", type=int, default=20)
    parser.add_argument("--expiry-sessions", type=int, default=100_000)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["IDP_DATABASE"] = args.database

    import django

    django.setup()

    import oauth2_provider
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    only = args.only or ["end", "token", "expiry"]

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        # A name of its own: never collides with a test run of the suite on the same server.
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_idp_bench_{os.getpid()}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select sqlite_version()" if connection.vendor == "sqlite" else "show server_version"
            )
            db_version = cursor.fetchone()[0]
        where = (
            "in-memory test database"
            if connection.vendor == "sqlite"
            else f"database {connection.settings_dict['NAME']}"
        )
        print(
            f"django-idp-logout benchmarks -- {connection.vendor} {db_version} ({where}); "
            f"Python {platform.python_version()}, Django {django.get_version()}, DOT {oauth2_provider.__version__}; "
            f"{os.cpu_count()} CPUs"
        )
        started = time.perf_counter()
        if "end" in only:
            bench_end(sizes, args.dot_limit)
        if "token" in only:
            bench_token(args.token_requests, args.token_block)
        if "expiry" in only:
            bench_expiry(args.expiry_sessions, 100_000)
        print(f"\nTotal {time.perf_counter() - started:.0f} s")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)
        teardown_test_environment()


if __name__ == "__main__":
    main()
