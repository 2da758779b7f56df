"""Celery tasks (``BACKCHANNEL_DELIVERY = "celery"``). Importing this module needs Celery installed.

- ``deliver_backchannel_notifications(ids)``: a logout's notifications (queued after commit), sent
  concurrently on an event loop within the worker's limits.
- ``deliver_backchannel_notification(id)``: one notification (tasks queued by earlier versions).
- ``deliver_due_notifications()``: for Celery beat (e.g. every minute): runs the delivery worker until
  nothing is due, retries included, so nothing is lost when a worker or web process dies.
"""

from celery import shared_task


@shared_task(name="django_idp_logout.deliver_backchannel_notifications", ignore_result=True)
def deliver_backchannel_notifications(notification_ids: list[int]) -> None:
    from .services.outbox import deliver_ids

    deliver_ids(list(notification_ids))


@shared_task(name="django_idp_logout.deliver_backchannel_notification", ignore_result=True)
def deliver_backchannel_notification(notification_id: int) -> None:
    from .services.outbox import deliver_ids

    deliver_ids([notification_id])


@shared_task(name="django_idp_logout.deliver_due_notifications", ignore_result=True)
def deliver_due_notifications(limit: int = 500) -> dict:
    from .services.outbox import run_worker

    totals = run_worker(batch=limit, until_idle=True)
    return {"delivered": totals.delivered, "failed": totals.failed, "released": totals.released}
