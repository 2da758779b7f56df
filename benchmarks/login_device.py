"""What recording the device and enforcing a session limit cost a login.

    .venv/bin/python benchmarks/login_device.py [--rounds 3] [--logins 20]

Each variant runs in a fresh Python process (the first login of a process is where parsing rules get
compiled), against its own temporary SQLite database, logging in through the real login form with the
Django test client. Columns: the first login of the process, the median of the next ``--logins`` logins
(each with a new User-Agent), and the SQL statements of one login. Variants:

- ``no parsing``: User-Agent parsing switched off (the baseline);
- ``ua-parser, lazy rules``: what the app does (rules compiled as first needed);
- ``ua-parser, global parser``: ua-parser's own global parser (every rule compiled first);
- ``lazy + MAX_SESSIONS_PER_USER=3``: with the limit (``end_oldest``; from the 4th login on, every
  login also ends the oldest session).

Run it on a quiet machine; ratios measured side by side in one run are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = [
    "no parsing",
    "ua-parser, lazy rules",
    "ua-parser, global parser",
    "lazy + MAX_SESSIONS_PER_USER=3",
]


def child(variant: str, logins: int) -> dict:
    import time

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from django_idp_logout import devices

    call_command("migrate", verbosity=0)
    if variant == "no parsing":
        devices.parse_user_agent = lambda user_agent: ("", "")
    elif variant == "ua-parser, global parser":
        import ua_parser

        devices._parser = lambda: ua_parser.parser
    if "MAX_SESSIONS" in variant:
        settings.IDP_LOGOUT = {"MAX_SESSIONS_PER_USER": 3}
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("alice", password="pw")

    def login(index: int) -> tuple[float, int]:
        browser = Client(
            HTTP_USER_AGENT=f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{100 + index}.0.0.0 Safari/537.36"
        )
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            response = browser.post("/accounts/login/", {"username": "alice", "password": "pw"})
            elapsed = time.perf_counter() - start
        assert response.status_code == 302
        return elapsed, len(queries)

    first, _ = login(0)
    later = [login(i) for i in range(1, logins + 1)]
    return {
        "first": first,
        "median": statistics.median(t for t, _ in later),
        "queries": later[-1][1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.logins)))
        return
    results: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for index, variant in enumerate(VARIANTS):  # interleaved, so load changes hit all alike
                env = {
                    **os.environ,
                    "DJANGO_SETTINGS_MODULE": "tests.settings",
                    "IDP_DATABASE": "sqlite",
                    "IDP_SQLITE_PATH": f"{tmp}/r{round_}v{index}.sqlite3",
                    "PYTHONPATH": str(ROOT),
                }
                out = subprocess.run(
                    [sys.executable, __file__, "--child", variant, "--logins", str(args.logins)],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = statistics.median(r["first"] for r in results["no parsing"])
    base_later = statistics.median(r["median"] for r in results["no parsing"])
    print(f"{args.rounds} rounds, {args.logins} logins after the first, medians over the rounds\n")
    print("| variant | first login (ms) | x baseline | later logins (ms) | x baseline | SQL per login |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for variant, rows in results.items():
        first = statistics.median(r["first"] for r in rows)
        later = statistics.median(r["median"] for r in rows)
        print(
            f"| {variant} | {first * 1000:.0f} | {first / base:.2f} | {later * 1000:.1f} | "
            f"{later / base_later:.2f} | {rows[-1]['queries']} |"
        )


if __name__ == "__main__":
    main()
