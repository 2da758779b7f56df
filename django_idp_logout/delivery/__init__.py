"""Back-channel delivery: one interface, three strategies chosen by ``BACKCHANNEL_DELIVERY``.

- ``"thread"`` (default): a bounded thread pool in this process sends in parallel after commit.
- ``"sync"``: sent in the committing thread, one after another (tests, tiny deployments).
- ``"celery"``: one Celery task per notification (deployments that outgrow one machine).

Whatever the strategy, the outbox row is the truth: ``idp_logout_deliver`` / the Celery beat task send
whatever is due, so a process that dies between commit and send loses nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ImproperlyConfigured

from ..conf import app_settings

STRATEGIES = ("thread", "sync", "celery")


def dispatch(notification_ids: Iterable[int]) -> None:
    """Hand freshly committed notifications to the configured strategy."""
    ids = list(notification_ids)
    if not ids:
        return
    mode = app_settings.BACKCHANNEL_DELIVERY
    if mode == "sync":
        from .sync import dispatch as run
    elif mode == "thread":
        from .thread import dispatch as run
    elif mode == "celery":
        from .celery import dispatch as run
    else:
        raise ImproperlyConfigured(
            f"IDP_LOGOUT['BACKCHANNEL_DELIVERY'] must be one of {STRATEGIES}, not {mode!r}."
        )
    run(ids)
