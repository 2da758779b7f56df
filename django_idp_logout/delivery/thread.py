"""``"thread"`` delivery: a bounded pool of ``BACKCHANNEL_THREADS`` worker threads in this process.

The logout response never waits: tasks are queued and the pool sends them in parallel. A process that
dies with tasks in the queue loses nothing: the outbox rows stay due for ``idp_logout_deliver``.

At exit, ``wait_idle`` drains the pool: it first waits for every hand-off (``_fan_out``) to have
submitted its sends, and only then shuts the pool down. Shutting down first made the hand-offs still in
the queue fail with "cannot schedule new futures after shutdown", leaving their notifications for the
sweeper.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connections

from ..conf import app_settings
from ..services.notifications import send_notification

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_handoffs: set[Future] = set()  # hand-offs of the current pool not yet finished


def executor() -> ThreadPoolExecutor:
    with _lock:
        return _current_executor()


def _current_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=app_settings.BACKCHANNEL_THREADS, thread_name_prefix="idp-logout-backchannel"
        )
    return _executor


def _send(notification_id: int) -> bool | None:
    # Each send closes its connection: a worker thread's connection would otherwise outlive the pool
    # (Django keeps it in thread-local storage) and hold the database open after shutdown.
    try:
        return send_notification(notification_id)
    finally:
        connections.close_all()


def _fan_out(pool: ThreadPoolExecutor, ids: list[int]) -> list[Future]:
    futures: list[Future] = []
    for notification_id in ids:
        try:
            futures.append(pool.submit(_send, notification_id))
        except RuntimeError:
            # The pool was shut down by someone else than wait_idle: send here rather than leave the
            # notification waiting for the sweeper.
            done: Future = Future()
            done.set_result(_send(notification_id))
            futures.append(done)
    return futures


def dispatch(ids: list[int]) -> Future:
    """Queue the sends and return at once: one hand-off, so the logout response does not even wait
    for the submissions. The returned future resolves to the per-notification futures."""
    with _lock:
        pool = _current_executor()
        handoff = pool.submit(_fan_out, pool, ids)
        _handoffs.add(handoff)
    handoff.add_done_callback(_forget)
    return handoff


def _forget(handoff: Future) -> None:
    with _lock:
        _handoffs.discard(handoff)


def wait_idle() -> None:
    """Block until the queued sends are done (tests, graceful shutdown, and at exit)."""
    global _executor
    with _lock:
        pool, _executor = _executor, None
        pending = set(_handoffs)
        _handoffs.clear()
    if pool is None:
        return
    # Every hand-off submits into ``pool``: let them all run before the pool refuses new work.
    concurrent.futures.wait(pending)
    pool.shutdown(wait=True, cancel_futures=False)


atexit.register(wait_idle)
