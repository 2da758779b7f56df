"""Back-channel delivery: sending what the outbox service hands over, and reporting back.

Strategies (``BACKCHANNEL_DELIVERY``) decide only WHERE the hand-off of a freshly committed logout
runs; what is sent, and what is recorded, is the outbox service's (``services/outbox.py``):

- ``"thread"`` (default): a bounded thread pool in this process (``thread.py``).
- ``"sync"``: in the committing thread, right after commit (tests, tiny deployments).
- ``"celery"``: one Celery task per hand-off (``celery.py``).
- ``"worker"``: no hand-off at all; ``idp_logout_deliver --worker`` processes pick the rows up within
  ``BACKCHANNEL_WORKER_POLL_INTERVAL`` (web processes then never send).

Every strategy, and the ``idp_logout_deliver --worker`` process (``worker.py``), sends through the
same non-blocking sender (``sender.py`` over ``http.py``). The outbox row is the truth: a process
that dies between commit and send loses nothing, the worker or sweeper sends it later.

This package imports nothing from ``services/`` or ``oauth/``: the arrows point down to it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured

from ..conf import app_settings

STRATEGIES = ("thread", "sync", "celery", "worker")


def hand_off(ids: list[int], job: Callable[[list[int]], object]) -> None:
    """Run ``job(ids)`` (the outbox service's "deliver these") where ``BACKCHANNEL_DELIVERY`` says."""
    if not ids:
        return
    mode = app_settings.BACKCHANNEL_DELIVERY
    if mode == "sync":
        job(ids)
    elif mode == "thread":
        from .thread import submit

        submit(job, ids)
    elif mode == "celery":
        from .celery import enqueue

        enqueue(ids)
    elif mode == "worker":
        return  # the worker's next poll claims them
    else:
        raise ImproperlyConfigured(
            f"IDP_LOGOUT['BACKCHANNEL_DELIVERY'] must be one of {STRATEGIES}, not {mode!r}."
        )
