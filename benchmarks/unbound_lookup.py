"""What the look for tokens from before the app (bound to no session) adds to ending a session.

    .venv/bin/python benchmarks/unbound_lookup.py [--database sqlite|postgres] [--history 1,100,1000]
        [--clients 50] [--logouts 100]

Every logout runs one extra statement (``services.unbound.clients_with_unbound_tokens``) that reads
the user's own tokens. This measures ``end_session`` of a fresh session holding one token set, for a
user whose other (already ended) sessions left H bound token sets behind, with ``--clients`` coordinated
clients registered, side by side: with the look, and with it replaced by "nothing found". Runs are
interleaved in blocks of 10. A last row gives a user whose H token sets are all unbound (from before
the app): that logout also revokes them, so it is the cost of the adoption's first logout.

Same throw-away test database as benchmarks/session_logout.py (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.session_logout import (  # noqa: E402
    build_session_with_tokens,
    make_application,
    models,
    print_table,
)


def fresh_session(user, app):
    m = models()
    user_session = m["UserSession"].objects.create(user=user)
    m["SessionClient"].objects.create(user_session=user_session, application=app)
    return user_session


def timed_end(user_session) -> float:
    from django_idp_logout.models import EndReason
    from django_idp_logout.services.sessions import end_session

    started = time.perf_counter()
    end_session(user_session=user_session, reason=EndReason.TERMINATED, notify_clients=False)
    return time.perf_counter() - started


def bench(history_sizes: list[int], clients: int, logouts: int) -> None:
    from django_idp_logout.models import SessionToken
    from django_idp_logout.services import sessions

    for i in range(clients):
        make_application(f"other-{i}", coordinate=True)
    real_look = sessions.clients_with_unbound_tokens
    rows = []
    for h in history_sizes:
        user, app, user_session = build_session_with_tokens(h, f"hist-{h}")
        sessions.end_session(user_session=user_session, reason="terminated", revoke_tokens=False)
        times = {"with": [], "without": []}
        for block in range(0, logouts, 10):
            for variant in ("with", "without"):
                sessions.clients_with_unbound_tokens = real_look if variant == "with" else (lambda _uid: {})
                try:
                    for _ in range(min(10, logouts - block)):
                        times[variant].append(timed_end(fresh_session(user, app)))
                finally:
                    sessions.clients_with_unbound_tokens = real_look
        with_, without = statistics.median(times["with"]), statistics.median(times["without"])
        rows.append(
            [f"{h} bound", logouts, f"{without * 1000:.2f}", f"{with_ * 1000:.2f}", f"{with_ / without:.3f}"]
        )
    for h in history_sizes[-1:]:
        user, app, user_session = build_session_with_tokens(h, f"unbound-{h}")
        SessionToken.objects.filter(user_session=user_session).delete()  # as if issued before the app
        started = time.perf_counter()
        result = sessions.end_session(user_session=fresh_session(user, app), reason="terminated")
        first = time.perf_counter() - started
        assert result.counts.access_tokens == h, result.counts
        rows.append([f"{h} unbound (first logout)", 1, "-", f"{first * 1000:.2f}", "-"])
    print_table(
        f"Ending a session: the look for unbound tokens ({clients} coordinated clients registered)",
        ["user's token history", "logouts", "without look, ms", "with look, ms", "with / without"],
        rows,
        notes=[
            "median of interleaved blocks of 10; each logout ends a fresh session holding no tokens",
            "the history is H access + refresh + ID token sets bound to an ended session of the same user",
        ],
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--history", default="1,100,1000")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--logouts", type=int, default=100)
    args = parser.parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["IDP_DATABASE"] = args.database

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_idp_bench_{os.getpid()}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    try:
        print(
            f"django-idp-logout unbound-token look -- {connection.vendor}; Python {platform.python_version()}, "
            f"Django {django.get_version()}; {os.cpu_count()} CPUs"
        )
        bench([int(s) for s in args.history.split(",") if s.strip()], args.clients, args.logouts)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)
        teardown_test_environment()


if __name__ == "__main__":
    main()
