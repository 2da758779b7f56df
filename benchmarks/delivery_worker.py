"""Back-channel delivery throughput: the worker against the thread strategy and the sweeper, one run.

    .venv/bin/python benchmarks/delivery_worker.py [--database postgres|sqlite] [--logouts 2000]
        [--delay 0.2] [--fanout-clients 50] [--fanout-delay 2] [--modes worker,until-done,thread]
        [--dead refused,hanging]

Fake clients are real HTTP servers on 127.0.0.1 in a separate process (aiohttp, so the clients' own
work does not share this process's interpreter): ``/ok/<client>`` answers 200 after ``--delay`` s,
``/hang/<client>`` never answers, and a refused client points at a port nothing listens on. The
process counts the POSTs it answered per client and when the last one arrived.

Tables:
1. ``--logouts`` logouts x 3 clients answering in ``--delay`` s, already in the outbox: notifications
   per second until the last one arrived, per delivery mode (each mode gets fresh rows).
2. The same with one of the three clients dead (connection refused; hanging): how long the two healthy
   clients' notifications take, as a ratio to the all-healthy run of the same mode.
3. One logout with ``--fanout-clients`` clients answering in ``--fanout-delay`` s: from the logout's
   commit until the last client had its token.

Works against older versions of the app too (modes they lack are skipped), so the same script measures
before and after: copy it into an old checkout's ``benchmarks/`` and run it from there (it imports the
app from the checkout it sits in), e.g. with ``--modes until-done,thread --dead ""``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# --- the fake clients (child process) ---------------------------------------------------------------


def serve_clients(delay: float, ready) -> None:
    import asyncio

    from aiohttp import web

    received: dict[str, list[float]] = {}

    async def ok(request):
        await request.read()
        await asyncio.sleep(delay)
        received.setdefault(request.match_info["client"], []).append(time.time())
        return web.Response(status=200)

    async def hang(request):
        await request.read()
        await asyncio.sleep(3600)
        return web.Response(status=200)

    async def stats(request):
        return web.json_response(
            {client: {"count": len(times), "last": max(times)} for client, times in received.items()}
        )

    async def reset(request):
        received.clear()
        return web.Response(status=204)

    async def main():
        app = web.Application()
        app.add_routes(
            [
                web.post("/ok/{client}", ok),
                web.post("/hang/{client}", hang),
                web.get("/_stats", stats),
                web.post("/_reset", reset),
            ]
        )
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        ready.send(site._server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


class Clients:
    def __init__(self, delay: float) -> None:
        parent, child = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=serve_clients, args=(delay, child), daemon=True
        )
        self.process.start()
        self.port = parent.recv()
        with socket.socket() as probe:  # a port that refuses: bound once, then closed
            probe.bind(("127.0.0.1", 0))
            self.closed_port = probe.getsockname()[1]

    def url(self, kind: str, client: str) -> str:
        if kind == "refused":
            return f"http://127.0.0.1:{self.closed_port}/refused/{client}"
        return f"http://127.0.0.1:{self.port}/{kind}/{client}"

    def stats(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stats", timeout=10) as response:
            return json.load(response)

    def reset(self) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/_reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def wait(self, expected: dict[str, int], timeout: float) -> float | None:
        """Wall-clock time of the last arrival once every client got its count, else None."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            stats = self.stats()
            if all(stats.get(c, {}).get("count", 0) >= n for c, n in expected.items()):
                return max(stats[c]["last"] for c in expected)
            time.sleep(0.05)
        return None

    def close(self) -> None:
        self.process.kill()


# --- set-up in the database -------------------------------------------------------------------------


def make_clients(prefix: str, uris: list[str]):
    from oauth2_provider.models import get_application_model

    from django_idp_logout.models import ClientLogoutSettings

    Application = get_application_model()
    apps = []
    for index, uri in enumerate(uris):
        app = Application.objects.create(
            name=f"{prefix}-{index}",
            client_id=f"{prefix}-{index}",
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            algorithm=Application.RS256_ALGORITHM,
            redirect_uris="https://rp.example.com/cb",
            client_secret="x" * 40,
            hash_client_secret=False,
        )
        ClientLogoutSettings.objects.create(application=app, backchannel_logout_uri=uri)
        apps.append(app)
    return apps


def make_outbox(apps, logouts: int, prefix: str) -> dict[int, list[int]]:
    """``logouts`` ended sessions, each with one pending notification per client (the outbox as
    ``end_session`` leaves it). Returns session pk -> notification ids."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from django_idp_logout.models import BackchannelNotification, UserSession

    user, _ = get_user_model().objects.get_or_create(username=f"bench-{prefix}")
    now = timezone.now()
    sessions = UserSession.objects.bulk_create(
        [UserSession(user=user, ended_at=now, end_reason="user_logout") for _ in range(logouts)]
    )
    sessions = list(UserSession.objects.filter(user=user).order_by("pk"))[-logouts:]
    uris = {a.pk: a.logout_settings.backchannel_logout_uri for a in apps}
    BackchannelNotification.objects.bulk_create(
        [
            BackchannelNotification(user_session=s, application=a, uri=uris[a.pk], reason="user_logout")
            for s in sessions
            for a in apps
        ],
        batch_size=2000,
    )
    by_session: dict[int, list[int]] = {}
    for pk, session_id in BackchannelNotification.objects.filter(user_session__in=sessions).values_list(
        "pk", "user_session_id"
    ):
        by_session.setdefault(session_id, []).append(pk)
    return by_session


# --- the modes --------------------------------------------------------------------------------------


def has_worker() -> bool:
    try:
        import django_idp_logout.services.outbox  # noqa: F401
    except ImportError:
        return False
    return True


def deliver(mode: str, by_session: dict[int, list[int]]) -> None:
    from django.core.management import call_command

    if mode == "worker":
        call_command("idp_logout_deliver", worker=True, until_done=True, stdout=open(os.devnull, "w"))
    elif mode == "until-done":
        call_command("idp_logout_deliver", until_done=True, stdout=open(os.devnull, "w"))
    elif mode == "thread":  # one hand-off per logout, as end_session's commit hook does
        from django_idp_logout.delivery import thread as thread_delivery

        try:
            from django_idp_logout.services.outbox import dispatch
        except ImportError:
            from django_idp_logout.delivery import dispatch
        for ids in by_session.values():
            dispatch(ids)
        thread_delivery.wait_idle()
    else:
        raise ValueError(mode)


def run(mode, clients, apps, logouts, prefix, settings, expect, timeout):
    """Seconds from the start until the ``expect``ed clients had all their notifications."""
    from django.test.utils import override_settings

    by_session = make_outbox(apps, logouts, prefix)
    clients.reset()
    started, cpu = time.time(), time.process_time()
    with override_settings(IDP_LOGOUT=settings):
        worker = threading.Thread(target=lambda: _deliver_and_close(mode, by_session), daemon=True)
        worker.start()
        deadline, last, grace = time.time() + timeout, None, 3
        while last is None and time.time() < deadline and grace:
            last = clients.wait(expect, 2)
            grace -= not worker.is_alive()  # delivery ended: a few more looks for late arrivals
        worker.join(timeout=timeout)
    run.cpu = time.process_time() - cpu  # this process only (not PostgreSQL, not the fake clients)
    return (last - started) if last else None


def _deliver_and_close(mode, by_session):
    from django.db import connections

    try:
        deliver(mode, by_session)
    finally:
        connections.close_all()


def print_table(title, headers, rows, notes=()):
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)]
    print(f"\n{title}")
    print("  ".join(str(h).rjust(w) for h, w in zip(headers, widths, strict=False)))
    for row in rows:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths, strict=False)))
    for note in notes:
        print(f"  * {note}")
    sys.stdout.flush()


def conditions() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--logouts", type=int, default=2000)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--modes", default="worker,until-done,thread")
    parser.add_argument("--dead", default="refused,hanging", help="dead-client runs (empty: skip)")
    parser.add_argument("--dead-modes", default="worker")
    parser.add_argument("--fanout-clients", type=int, default=50)
    parser.add_argument("--fanout-delay", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=16, help="BACKCHANNEL_THREADS for 'thread'")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["IDP_DATABASE"] = args.database
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    import django_idp_logout

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = str(Path(tempfile.mkdtemp()) / "d.sqlite3")
    else:
        connection.settings_dict.setdefault("TEST", {})["NAME"] = f"test_{old_name}_delivery_{os.getpid()}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=False)
    clients = Clients(args.delay)
    modes = [m for m in args.modes.split(",") if m and (m != "worker" or has_worker())]
    base = {
        "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True,
        "BACKCHANNEL_TIMEOUT": 5,
        "BACKCHANNEL_THREADS": args.threads,
        "BACKCHANNEL_DELIVERY": "thread",
    }
    print(f"delivery benchmark -- {connection.vendor}; app from {Path(django_idp_logout.__file__).parent}")
    print(f"conditions at start: {conditions()}")
    try:
        healthy = make_clients("ok", [clients.url("ok", f"c{i}") for i in range(3)])
        total = args.logouts * 3
        rows, baseline = [], {}
        for mode in modes:
            expect = {f"c{i}": args.logouts for i in range(3)}
            seconds = run(mode, clients, healthy, args.logouts, f"h-{mode}", base, expect, 600)
            baseline[mode] = seconds
            cpu_ms = run.cpu * 1000 / total
            rows.append(
                [
                    mode,
                    total,
                    f"{seconds:.2f} s" if seconds else "incomplete",
                    f"{total / seconds:.0f}/s" if seconds else "-",
                    f"{cpu_ms:.2f} ms",
                    f"{1000 / cpu_ms:.0f}/s",
                ]
            )
        reference = baseline.get("worker") or next(iter(baseline.values()), None)
        for row, mode in zip(rows, modes, strict=True):
            row.append(f"{reference / baseline[mode]:.2f}" if reference and baseline[mode] else "-")
        print_table(
            f"1. {args.logouts} logouts x 3 clients answering in {args.delay:g} s",
            [
                "mode",
                "notifications",
                "all arrived after",
                "rate",
                "CPU/notification",
                "rate per CPU-second",
                "speed vs worker",
            ],
            rows,
            [
                "CPU: this process's CPU time (all threads) / notifications; 'rate per CPU-second' is what one "
                "free core would sustain, so it holds on a shared machine where the wall-clock rate does not.",
                f"'thread': one hand-off per logout, BACKCHANNEL_THREADS={args.threads}.",
                "'until-done': idp_logout_deliver --until-done (batches of 500).",
                "'worker': idp_logout_deliver --worker --until-done, default limits.",
            ],
        )
        print(f"conditions: {conditions()}")

        rows = []
        for kind in [k for k in args.dead.split(",") if k]:
            for mode in [m for m in args.dead_modes.split(",") if m in baseline]:
                uris = [
                    clients.url("ok", "c0"),
                    clients.url("ok", "c1"),
                    clients.url("hang" if kind == "hanging" else "refused", "c2"),
                ]
                apps = make_clients(f"dead-{kind}-{mode}", uris)
                expect = {"c0": args.logouts, "c1": args.logouts}
                seconds = run(mode, clients, apps, args.logouts, f"d-{kind}-{mode}", base, expect, 600)
                reference = baseline[mode]
                rows.append(
                    [
                        mode,
                        kind,
                        f"{seconds:.2f} s" if seconds else "incomplete",
                        f"{reference:.2f} s" if reference else "-",
                        f"{seconds / reference:.2f}" if seconds and reference else "-",
                    ]
                )
        if rows:
            print_table(
                "2. One of three clients dead: the two healthy clients' notifications",
                ["mode", "dead client", "healthy ones arrived after", "all-healthy run", "ratio"],
                rows,
                ["ratio 1.00: the dead client costs the others nothing (BACKCHANNEL_TIMEOUT=5)."],
            )
            print(f"conditions: {conditions()}")

        rows = []
        fan = Clients(args.fanout_delay)
        try:
            for mode in ["thread", *(["worker"] if "worker" in modes else [])]:
                apps = make_clients(
                    f"fan-{mode}", [fan.url("ok", f"f{i}") for i in range(args.fanout_clients)]
                )
                seconds = fanout(mode, fan, apps, base)
                rows.append(
                    [
                        mode,
                        args.fanout_clients,
                        f"{args.fanout_delay:g} s",
                        f"{seconds:.2f} s" if seconds else "incomplete",
                    ]
                )
        finally:
            fan.close()
        print_table(
            f"3. One logout, {args.fanout_clients} clients answering in {args.fanout_delay:g} s",
            ["mode", "clients", "each answers in", "all delivered after the commit"],
            rows,
            ["'worker': BACKCHANNEL_DELIVERY='worker', a running worker polls every 0.25 s."],
        )
        print(f"conditions at end: {conditions()}")
    finally:
        clients.close()
        connection.creation.destroy_test_db(old_name, verbosity=0, keepdb=False)
        teardown_test_environment()


def fanout(mode: str, fan: Clients, apps, base) -> float | None:
    """A real end_session of one session with every app; seconds from its commit to the last arrival."""
    import asyncio

    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test.utils import override_settings

    from django_idp_logout.models import EndReason, SessionClient, UserSession
    from django_idp_logout.services.sessions import end_session

    user, _ = get_user_model().objects.get_or_create(username=f"fan-{mode}")
    session = UserSession.objects.create(user=user)
    SessionClient.objects.bulk_create([SessionClient(user_session=session, application=a) for a in apps])
    fan.reset()
    settings = {**base, "BACKCHANNEL_DELIVERY": mode}
    with override_settings(IDP_LOGOUT=settings):
        worker = None
        if mode == "worker":
            from django_idp_logout.services.outbox import run_worker

            loop_box = {}

            def serve():
                async def main():
                    loop_box["stop"] = asyncio.Event()
                    loop_box["loop"] = asyncio.get_running_loop()
                    from django_idp_logout.delivery.sender import Limits
                    from django_idp_logout.delivery.worker import run_worker as raw
                    from django_idp_logout.services.outbox import Outbox

                    await raw(
                        Outbox(),
                        limits=Limits.from_settings(),
                        batch=200,
                        idle_wait=0.25,
                        stop=loop_box["stop"],
                    )

                asyncio.run(main())
                connections.close_all()

            assert run_worker
            worker = threading.Thread(target=serve, daemon=True)
            worker.start()
            time.sleep(1)  # the worker is idle-polling when the logout happens
        end_session(user_session=session, reason=EndReason.USER_LOGOUT)
        committed = time.time()
        last = fan.wait({f"f{i}": 1 for i in range(len(apps))}, 60)
        if mode == "thread":
            from django_idp_logout.delivery import thread as thread_delivery

            thread_delivery.wait_idle()
        if worker is not None:
            loop_box["loop"].call_soon_threadsafe(loop_box["stop"].set)
            worker.join(timeout=30)
    return (last - committed) if last else None


if __name__ == "__main__":
    main()
