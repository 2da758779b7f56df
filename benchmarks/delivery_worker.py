"""Back-channel delivery throughput: the worker against the thread strategy and the sweeper, one run.

    .venv/bin/python benchmarks/delivery_worker.py [--database postgres|sqlite] [--logouts 2000] [--users 1]
        [--delay 0.2] [--fanout-clients 50] [--fanout-delay 2]
        [--modes worker,until-done,thread,celery] [--dead refused,hanging]
        [--celery-pool threads] [--celery-concurrency 32] [--celery-broker redis://127.0.0.1:6379/15]

Fake clients are real HTTP servers on 127.0.0.1 in a separate process (aiohttp, so the clients' own
work does not share this process's interpreter): ``/ok/<client>`` answers 200 after ``--delay`` s,
``/hang/<client>`` never answers, and a refused client points at a port nothing listens on. The
process counts the POSTs it answered per client and when the last one arrived.

Tables:
1. ``--logouts`` logouts x 3 clients answering in ``--delay`` s, already in the outbox: notifications
   per second until the last one arrived, per delivery mode (each mode gets fresh rows), and whether
   every notification arrived exactly once (each client got exactly its count of POSTs, every row is
   delivered).
2. The same with one of the three clients dead (connection refused; hanging): how long the two healthy
   clients' notifications take, as a ratio to the all-healthy run of the same mode.
3. One logout with ``--fanout-clients`` clients answering in ``--fanout-delay`` s: from the logout's
   commit until the last client had its token.

``celery``: ``BACKCHANNEL_DELIVERY = "celery"`` with a real Celery worker in its own process
(``celery -A delivery_worker:celery_app worker``, this file's ``celery_app``: the same settings and
database as this process) consuming from Redis (``--celery-broker``, default ``IDP_TEST_CELERY_BROKER``
as the tests use it). The worker is started, and answers a ping, before the clock starts; then one
hand-off per logout (as ``end_session``'s commit hook does: one task with the logout's three
notifications) and the run ends when the queue is empty and the worker holds no task. Its CPU is this
process's (enqueuing) plus the worker's processes' (``/proc``, Linux). Needs Celery and Redis
(``pip install -e '.[celery]'``); the mode is skipped where the app has no Celery tasks.

``BENCH_PROFILE=/tmp/worker.prof`` writes a cProfile of each delivery's threads (the one running the
mode, and those it starts: the worker's database thread) to ``/tmp/worker.prof.<mode>.<thread>``.

Works against older versions of the app too (modes they lack are skipped), so the same script measures
before and after: copy it into an old checkout's ``benchmarks/`` and run it from there (it imports the
app from the checkout it sits in), e.g. with ``--modes until-done,thread --dead ""``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import multiprocessing
import os
import signal
import socket
import subprocess
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


# --- the Celery worker (``celery`` mode) -------------------------------------------------------------


def make_celery_app(broker: str):
    """The Celery app of both sides: this process sends the tasks, the worker process consumes them."""
    from celery import Celery

    app = Celery("idp_logout_bench", broker=broker)
    app.conf.update(
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_ignore_result=True,
    )
    return app


def __getattr__(name: str):
    """``celery -A delivery_worker:celery_app worker``: the worker process's app, set up lazily (so
    importing this file needs neither Celery nor Django) with the benchmark's database and settings."""
    if name != "celery_app":
        raise AttributeError(name)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.conf import settings

    settings.IDP_LOGOUT = json.loads(os.environ["IDP_BENCH_SETTINGS"])
    django.setup()
    import django_idp_logout.tasks  # noqa: F401  (registers the shared tasks)

    global celery_app
    celery_app = make_celery_app(os.environ["IDP_BENCH_BROKER"])
    return celery_app


def has_celery() -> bool:
    try:
        import celery  # noqa: F401

        import django_idp_logout.tasks  # noqa: F401
    except ImportError:
        return False
    return True


def process_tree_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a process and its descendants, living and reaped (``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                text = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            stats[int(entry)] = text[text.rindex(")") + 2 :].split()  # fields from the state on
    if pid not in stats:
        return None
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        fields = stats[current]
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        todo.extend(child for child, f in stats.items() if int(f[1]) == current)
    return total / tick


class CeleryWorker:
    """``celery worker`` in its own process on the benchmark's database, started and stopped here."""

    def __init__(self, broker: str, pool: str, concurrency: int, settings: dict, log_dir: Path) -> None:
        from django.db import connection

        self.app = make_celery_app(broker)
        self.app.set_current()
        self.app.set_default()
        self.app.control.purge()  # nothing left over from an earlier, killed run
        self.node = f"idp-logout-bench-{os.getpid()}@{socket.gethostname()}"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT)]),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "IDP_DATABASE": connection.vendor if connection.vendor != "postgresql" else "postgres",
            "IDP_PG_NAME": connection.settings_dict["NAME"],  # the benchmark's test database
            "IDP_SQLITE_PATH": str(connection.settings_dict["NAME"]),
            "IDP_BENCH_SETTINGS": json.dumps(settings),
            "IDP_BENCH_BROKER": broker,
        }
        self.log = log_dir / "celery-worker.log"
        command = [sys.executable, "-m", "celery", "-A", "delivery_worker:celery_app", "worker"]
        command += ["--pool", pool, "--concurrency", str(concurrency), "--hostname", self.node]
        command += ["--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not self.app.control.ping(destination=[self.node], timeout=0.5):
            if self.process.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"the Celery worker did not start:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def cpu(self) -> float | None:
        return process_tree_cpu(self.process.pid)

    def idle(self) -> bool:
        """Nothing queued in Redis, nothing held (running or prefetched) by the worker."""
        with self.app.connection_for_write() as conn:
            try:
                _, waiting, _ = conn.default_channel.queue_declare(
                    queue=self.app.conf.task_default_queue, passive=True
                )
            except conn.channel_errors:  # Redis drops an empty queue's list
                waiting = 0
        if waiting:
            return False
        inspect = self.app.control.inspect(destination=[self.node], timeout=1)
        active, reserved = inspect.active(), inspect.reserved()
        if not active or not reserved:  # no answer yet (busy): not known to be idle
            return False
        return not any(active.values()) and not any(reserved.values())

    def wait_idle(self) -> None:
        """Until two looks in a row find it idle (a task between the queue and the worker is missed
        by one look); raises if the worker died."""
        streak = 0
        while streak < 2:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited:\n{self.log_tail()}")
            streak = streak + 1 if self.idle() else 0
            time.sleep(0.25)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM: the worker finishes what it holds), killed after 30 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.app.control.purge()


CELERY: CeleryWorker | None = None  # the running worker when the ``celery`` mode is selected
USERS = 1  # --users: whose sessions the logouts end, in turn


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
    ``end_session`` leaves it), of ``USERS`` users in turn. Returns session pk -> notification ids."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from django_idp_logout.models import BackchannelNotification, UserSession

    User = get_user_model()
    names = [f"bench-{prefix}-{n}" for n in range(min(USERS, logouts))]
    User.objects.bulk_create([User(username=name) for name in names], ignore_conflicts=True)
    users = list(User.objects.filter(username__in=names).order_by("pk"))
    now = timezone.now()
    UserSession.objects.bulk_create(
        [
            UserSession(user=users[n % len(users)], ended_at=now, end_reason="user_logout")
            for n in range(logouts)
        ]
    )
    sessions = list(UserSession.objects.filter(user__in=users).order_by("pk"))[-logouts:]
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
    elif mode == "celery":  # one task per logout, sent as end_session's commit hook sends it
        try:
            from django_idp_logout.services.outbox import dispatch
        except ImportError:
            from django_idp_logout.delivery import dispatch
        assert CELERY is not None
        for ids in by_session.values():
            dispatch(ids)
        CELERY.wait_idle()
    else:
        raise ValueError(mode)


def run(mode, clients, apps, logouts, prefix, settings, expect, timeout):
    """Seconds from the start until the ``expect``ed clients had all their notifications."""
    from django.test.utils import override_settings

    by_session = make_outbox(apps, logouts, prefix)
    if mode == "celery":
        settings = {**settings, "BACKCHANNEL_DELIVERY": "celery"}
    clients.reset()
    other_cpu = CELERY.cpu if mode == "celery" and CELERY else lambda: 0.0
    started, cpu, other = time.time(), time.process_time(), other_cpu()
    with override_settings(IDP_LOGOUT=settings):
        worker = threading.Thread(target=lambda: _deliver_and_close(mode, by_session), daemon=True)
        worker.start()
        deadline, last, grace = time.time() + timeout, None, 3
        while last is None and time.time() < deadline and grace:
            last = clients.wait(expect, 2)
            grace -= not worker.is_alive()  # delivery ended: a few more looks for late arrivals
        worker.join(timeout=timeout)
    # this process (and the Celery worker's), not PostgreSQL's, not the fake clients'
    mine, after = time.process_time() - cpu, other_cpu()
    run.cpu = None if other is None or after is None else mine + after - other
    run.by_session = by_session
    return (last - started) if last else None


def exactly_once(clients: Clients, by_session: dict[int, list[int]], expect: dict[str, int]) -> str:
    """'yes' when every client got exactly its count of POSTs and every row of the run is delivered:
    each delivered row had a POST answered, so as many POSTs as rows means none was sent twice."""
    from django_idp_logout.models import BackchannelNotification, NotificationStatus

    time.sleep(0.5)  # a duplicate still on its way
    stats = clients.stats()
    posts = sum(stats.get(c, {}).get("count", 0) for c in expect)
    ids = [pk for pks in by_session.values() for pk in pks]
    delivered = sum(
        BackchannelNotification.objects.filter(
            pk__in=ids[i : i + 1000], status=NotificationStatus.DELIVERED
        ).count()
        for i in range(0, len(ids), 1000)
    )
    if all(stats.get(c, {}).get("count", 0) == n for c, n in expect.items()) and delivered == len(ids):
        return "yes"
    return f"no: {posts} POSTs, {delivered}/{len(ids)} delivered"


def _deliver_and_close(mode, by_session):
    from django.db import connections

    try:
        with profiled(mode):
            deliver(mode, by_session)
    finally:
        connections.close_all()


@contextlib.contextmanager
def profiled(mode: str):
    """``BENCH_PROFILE=/tmp/worker.prof``: a cProfile of each thread this delivery starts (the event
    loop's and the database thread's), written to ``<path>.<mode>.<thread name>`` when it ends."""
    path = os.environ.get("BENCH_PROFILE")
    if not path:
        yield
        return
    profiles: list[tuple[str, cProfile.Profile]] = []

    def start(frame, event, arg):  # the first event of every thread started from now on
        sys.setprofile(None)
        profile = cProfile.Profile()
        profiles.append((threading.current_thread().name, profile))
        profile.enable()

    own = cProfile.Profile()
    threading.setprofile(start)
    own.enable()
    try:
        yield
    finally:
        own.disable()
        threading.setprofile(None)
        own.dump_stats(f"{path}.{mode}.{threading.current_thread().name}")
        for name, profile in profiles:
            profile.dump_stats(f"{path}.{mode}.{name}")


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
    parser.add_argument(
        "--users",
        type=int,
        default=1,
        help="the logouts' users, in turn (1: one user's sessions, each (user, client) sub computed once "
        "per claim; --users equal to --logouts: a sub per notification, as in real traffic)",
    )
    parser.add_argument("--modes", default="worker,until-done,thread,celery")
    parser.add_argument("--dead", default="refused,hanging", help="dead-client runs (empty: skip)")
    parser.add_argument("--dead-modes", default="worker")
    parser.add_argument("--fanout-clients", type=int, default=50)
    parser.add_argument("--fanout-delay", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=16, help="BACKCHANNEL_THREADS for 'thread'")
    parser.add_argument(
        "--celery-broker",
        default=os.environ.get("IDP_TEST_CELERY_BROKER", "redis://127.0.0.1:6379/15"),
        help="Redis for 'celery' (default: IDP_TEST_CELERY_BROKER, as the tests use it)",
    )
    # threads x 32: a task mostly waits for its logout's clients, so one process with many slots keeps
    # a core busy, and leaves the other of a 2-core machine to PostgreSQL (prefork x 16 measured slower
    # and dearer per notification at --logouts 200; see docs/benchmarks.md)
    parser.add_argument("--celery-pool", default="threads", help="the 'celery' worker's --pool")
    parser.add_argument(
        "--celery-concurrency", type=int, default=32, help="the 'celery' worker's --concurrency"
    )
    args = parser.parse_args(argv)
    global USERS
    USERS = max(args.users, 1)

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
    available = {"worker": has_worker, "celery": has_celery}
    modes = [m for m in args.modes.split(",") if m and available.get(m, lambda: True)()]
    base = {
        "BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES": True,
        "BACKCHANNEL_TIMEOUT": 5,
        "BACKCHANNEL_THREADS": args.threads,
        "BACKCHANNEL_DELIVERY": "thread",
    }
    print(f"delivery benchmark -- {connection.vendor}; app from {Path(django_idp_logout.__file__).parent}")
    print(f"conditions at start: {conditions()}; {min(USERS, args.logouts)} user(s)")
    global CELERY
    try:
        if "celery" in modes:  # started first: a broker that is not there fails the run at once
            CELERY = CeleryWorker(
                args.celery_broker,
                args.celery_pool,
                args.celery_concurrency,
                {**base, "BACKCHANNEL_DELIVERY": "celery"},
                Path(tempfile.mkdtemp()),
            )
        healthy = make_clients("ok", [clients.url("ok", f"c{i}") for i in range(3)])
        total = args.logouts * 3
        rows, baseline = [], {}
        for mode in modes:
            expect = {f"c{i}": args.logouts for i in range(3)}
            seconds = run(mode, clients, healthy, args.logouts, f"h-{mode}", base, expect, 600)
            baseline[mode] = seconds
            cpu_ms = run.cpu * 1000 / total if run.cpu is not None else None
            rows.append(
                [
                    mode,
                    total,
                    f"{seconds:.2f} s" if seconds else "incomplete",
                    f"{total / seconds:.0f}/s" if seconds else "-",
                    f"{cpu_ms:.2f} ms" if cpu_ms else "-",
                    f"{1000 / cpu_ms:.0f}/s" if cpu_ms else "-",
                    exactly_once(clients, run.by_session, expect),
                ]
            )
        reference = baseline.get("worker") or next(iter(baseline.values()), None)
        for row, mode in zip(rows, modes, strict=True):
            row.insert(-1, f"{reference / baseline[mode]:.2f}" if reference and baseline[mode] else "-")
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
                "exactly once",
            ],
            rows,
            [
                "CPU: this process's CPU time (all threads) / notifications; 'rate per CPU-second' is what one "
                "free core would sustain, so it holds on a shared machine where the wall-clock rate does not.",
                f"'thread': one hand-off per logout, BACKCHANNEL_THREADS={args.threads}.",
                "'until-done': idp_logout_deliver --until-done (batches of 500).",
                "'worker': idp_logout_deliver --worker --until-done, default limits.",
                *(
                    [
                        f"'celery': one task per logout to a Celery worker process (--pool {args.celery_pool} "
                        f"--concurrency {args.celery_concurrency}, Redis {args.celery_broker}); CPU includes "
                        "the worker's processes."
                    ]
                    if "celery" in modes
                    else []
                ),
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
            for mode in ["thread", *(m for m in ("worker", "celery") if m in modes)]:
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
            [
                "'worker': BACKCHANNEL_DELIVERY='worker', a running worker polls every 0.25 s.",
                *(
                    ["'celery': BACKCHANNEL_DELIVERY='celery', one task to the idle worker."]
                    if CELERY
                    else []
                ),
            ],
        )
        print(f"conditions at end: {conditions()}")
    finally:
        if CELERY is not None:
            CELERY.stop()
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
        if mode == "celery" and CELERY is not None:
            CELERY.wait_idle()
        if worker is not None:
            loop_box["loop"].call_soon_threadsafe(loop_box["stop"].set)
            worker.join(timeout=30)
    return (last - committed) if last else None


if __name__ == "__main__":
    main()
