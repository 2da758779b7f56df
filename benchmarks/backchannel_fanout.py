"""Back-channel fan-out: the logout response does not wait for clients, and slow clients are sent to in
parallel.

    .venv/bin/python benchmarks/backchannel_fanout.py [--database sqlite|postgres] [--delay 2]
        [--clients 50] [--many 500] [--pool 16] [--skip-sequential]

Every client is a real HTTP endpoint on 127.0.0.1 that answers after ``--delay`` seconds. Tables:

1. one session with ``--clients`` back-channel clients: the logout response time and the time until
   every client has its token, with ``"thread"`` delivery (bounded pool) and with ``"sync"`` (sequential);
2. ``--many`` clients through the bounded pool (``BACKCHANNEL_THREADS`` = ``--pool``);
3. the cost of signing one logout token (RS256) and of writing the outbox, per client.

It creates and destroys its own database (SQLite: a temporary file, so the pool's threads share it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class SlowClients:
    """One server standing in for many clients (a path per client), each answering after ``delay``."""

    def __init__(self, delay: float):
        self.delay = delay
        self.received: dict[str, float] = {}
        self.lock = threading.Lock()
        clients = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(clients.delay)
                with clients.lock:
                    clients.received[self.path] = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server_class = type(
            "Server", (ThreadingHTTPServer,), {"request_queue_size": 1024, "daemon_threads": True}
        )
        self.server = server_class(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait(self, count: int, timeout: float) -> float | None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return max(self.received.values())
            time.sleep(0.01)
        return None


def make_session(clients: SlowClients, count: int, prefix: str):
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import get_application_model

    from django_idp_logout.models import ClientLogoutSettings, SessionClient, UserSession

    Application = get_application_model()
    user, _ = get_user_model().objects.get_or_create(username=f"bench-{prefix}")
    apps = Application.objects.bulk_create(
        [
            Application(
                name=f"{prefix}-{i}",
                client_id=f"{prefix}-{i}",
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
                algorithm=Application.RS256_ALGORITHM,
                redirect_uris="https://rp.example.com/cb",
                client_secret="x" * 40,
                hash_client_secret=False,
            )
            for i in range(count)
        ]
    )
    apps = list(Application.objects.filter(client_id__startswith=f"{prefix}-"))
    ClientLogoutSettings.objects.bulk_create(
        [
            ClientLogoutSettings(application=a, backchannel_logout_uri=clients.url(f"/{a.client_id}"))
            for a in apps
        ]
    )
    user_session = UserSession.objects.create(user=user)
    SessionClient.objects.bulk_create([SessionClient(user_session=user_session, application=a) for a in apps])
    return user_session


def run_logout(user_session, clients: SlowClients, count: int, timeout: float) -> tuple[float, float | None]:
    """Seconds until end_session returned (commit and dispatch included), and until all were delivered."""
    from django_idp_logout.models import EndReason
    from django_idp_logout.services.sessions import end_session

    clients.received.clear()
    started = time.perf_counter()
    end_session(user_session=user_session, reason=EndReason.USER_LOGOUT)
    returned = time.perf_counter() - started
    last = clients.wait(count, timeout)
    if last is None:
        from django.db.models import Count

        from django_idp_logout.models import BackchannelNotification

        errors = (
            BackchannelNotification.objects.filter(user_session=user_session)
            .values("status", "last_error")
            .annotate(n=Count("pk"))
        )
        print(f"  ! only {len(clients.received)}/{count} delivered: {list(errors)}", file=sys.stderr)
    return returned, (last - started) if last else None


def print_table(title, headers, rows, notes=()):
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)]
    print(f"\n{title}")
    print("  ".join(str(h).rjust(w) for h, w in zip(headers, widths, strict=False)))
    for row in rows:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths, strict=False)))
    for note in notes:
        print(f"  * {note}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--delay", type=float, default=2.0, help="seconds each client takes to answer")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--many", type=int, default=500)
    parser.add_argument("--pool", type=int, default=16, help="BACKCHANNEL_THREADS for the thread runs")
    parser.add_argument(
        "--skip-sequential", action="store_true", help="skip the sync run (clients x delay s)"
    )
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["IDP_DATABASE"] = args.database
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import override_settings, setup_test_environment, teardown_test_environment

    from django_idp_logout.delivery import thread as thread_delivery

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    tmp = tempfile.mkdtemp()
    if connection.vendor == "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = str(Path(tmp) / "fanout.sqlite3")
    else:
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_idp_fanout_{os.getpid()}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    clients = SlowClients(args.delay)
    base = {"BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True, "BACKCHANNEL_TIMEOUT": args.delay + 10}
    try:
        print(
            f"back-channel fan-out -- {connection.vendor}; clients answer after {args.delay:g} s; {os.cpu_count()} CPUs"
        )
        rows = []
        for mode, count, pool in (
            ("thread", args.clients, max(args.pool, args.clients)),
            ("sync", args.clients, 1),
        ):
            if mode == "sync" and args.skip_sequential:
                continue
            with override_settings(
                IDP_LOGOUT={**base, "BACKCHANNEL_DELIVERY": mode, "BACKCHANNEL_THREADS": pool}
            ):
                thread_delivery.wait_idle()
                user_session = make_session(clients, count, f"{mode}{count}")
                returned, delivered = run_logout(
                    user_session, clients, count, timeout=count * args.delay + 60
                )
                thread_delivery.wait_idle()
            rows.append(
                [
                    mode,
                    count,
                    pool if mode == "thread" else "-",
                    f"{returned * 1000:.0f} ms",
                    f"{delivered:.2f} s" if delivered else "incomplete",
                    f"{count} x {args.delay:g} s",
                ]
            )
        print_table(
            f"1. One logout, {args.clients} back-channel clients",
            ["delivery", "clients", "pool", "logout returns in", "all delivered after", "client time"],
            rows,
            [
                "'logout returns in': end_session() including its commit and the hand-off to the pool.",
                "'sync' sends in the committing thread, one client after another (the old way).",
            ],
        )

        rows = []
        for pool in sorted({args.pool, 64}):
            with override_settings(
                IDP_LOGOUT={**base, "BACKCHANNEL_DELIVERY": "thread", "BACKCHANNEL_THREADS": pool}
            ):
                thread_delivery.wait_idle()
                user_session = make_session(clients, args.many, f"many{pool}")
                returned, delivered = run_logout(
                    user_session, clients, args.many, timeout=args.many * args.delay
                )
                thread_delivery.wait_idle()
            ideal = -(-args.many // pool) * args.delay
            rows.append(
                [
                    args.many,
                    pool,
                    f"{returned * 1000:.0f} ms",
                    f"{delivered:.1f} s" if delivered else "-",
                    f"{ideal:.1f} s",
                ]
            )
        print_table(
            f"2. One logout, {args.many} clients through a bounded pool",
            ["clients", "pool", "logout returns in", "all delivered after", "ceil(clients/pool) x delay"],
            rows,
        )

        from oauth2_provider.models import get_application_model

        from django_idp_logout.services.logout_token import logout_token_claims, sign_logout_token
        from django_idp_logout.services.notifications import queue_backchannel

        app = get_application_model().objects.filter(algorithm="RS256").first()
        timings = []
        for _ in range(300):
            started = time.perf_counter()
            sign_logout_token(
                application=app, claims=logout_token_claims(application=app, sub="1", sid="s", reason="x")
            )
            timings.append(time.perf_counter() - started)
        rows = [
            [
                "sign one logout token (RS256, 2048-bit)",
                f"{statistics.median(timings) * 1e6:.0f} us",
                "300 runs",
            ]
        ]
        from django.db import connection as conn
        from django.test.utils import CaptureQueriesContext

        for count in (1, 10, 100):
            user_session = make_session(clients, count, f"outbox{count}")
            with CaptureQueriesContext(conn) as captured:
                started = time.perf_counter()
                queue_backchannel(user_session, reason="user_logout")
                elapsed = time.perf_counter() - started
            rows.append(
                [
                    f"outbox write, {count} clients",
                    f"{elapsed * 1000:.2f} ms ({elapsed * 1e6 / count:.0f} us/client)",
                    f"{len(captured)} queries",
                ]
            )
        print_table("3. Costs", ["what", "time", "note"], rows)
    finally:
        thread_delivery.wait_idle()
        clients.server.shutdown()
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)
        teardown_test_environment()


if __name__ == "__main__":
    main()
