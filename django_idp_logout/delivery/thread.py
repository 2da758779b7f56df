"""``"thread"`` delivery: a bounded pool of ``BACKCHANNEL_THREADS`` worker threads in this process.

The logout response never waits: tasks are queued and the pool sends them in parallel. A process that
dies with tasks in the queue loses nothing: the outbox rows stay due for ``idp_logout_deliver``.
"""

from __future__ import annotations

import atexit
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connections

from ..conf import app_settings
from ..services.notifications import send_notification

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    global _executor
    with _lock:
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
    return [pool.submit(_send, notification_id) for notification_id in ids]


def dispatch(ids: list[int]) -> Future:
    """Queue the sends and return at once: one hand-off, so the logout response does not even wait
    for the submissions. The returned future resolves to the per-notification futures."""
    pool = executor()
    return pool.submit(_fan_out, pool, ids)


def wait_idle() -> None:
    """Block until the queued sends are done (tests, graceful shutdown)."""
    global _executor
    with _lock:
        pool, _executor = _executor, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=False)


atexit.register(wait_idle)
