"""``"thread"`` delivery: a bounded pool of ``BACKCHANNEL_THREADS`` threads in this process.

The logout response never waits: the outbox service hands over one job per logout (claim, sign, send
the batch on an event loop, record) and a pool thread runs it. A process that dies with jobs queued
loses nothing: the outbox rows stay due for ``idp_logout_deliver``.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connections

from ..conf import app_settings

logger = logging.getLogger(__name__)

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


def _run(job: Callable[[list[int]], object], ids: list[int]) -> object:
    # Each job closes its connection: a pool thread's connection would otherwise outlive the pool
    # (Django keeps it in thread-local storage) and hold the database open after shutdown.
    try:
        return job(ids)
    except Exception:
        # Nobody reads the Future: say it here, or the failure is silent. The rows stay due.
        logger.exception(
            "django_idp_logout: delivering notifications %s failed; they stay due for idp_logout_deliver",
            ids,
        )
        return None
    finally:
        connections.close_all()


def submit(job: Callable[[list[int]], object], ids: list[int]) -> Future:
    """Queue ``job(ids)`` and return at once. One job per hand-off, submitted from the caller's
    thread: nothing is ever submitted from inside the pool, so ``wait_idle`` drains everything."""
    return executor().submit(_run, job, ids)


def wait_idle() -> None:
    """Block until the queued jobs are done (tests, graceful shutdown)."""
    global _executor
    with _lock:
        pool, _executor = _executor, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=False)


atexit.register(wait_idle)
