"""Celery tasks (``BACKCHANNEL_DELIVERY = "celery"``). Importing this module needs Celery installed.

- ``deliver_backchannel_notification(id)``: one attempt of one notification (queued after commit).
- ``deliver_due_notifications()``: for Celery beat (e.g. every minute): sends whatever is due, retries
  included, so nothing is lost when a worker or web process dies.
"""

from celery import shared_task


@shared_task(name="django_idp_logout.deliver_backchannel_notification", ignore_result=True)
def deliver_backchannel_notification(notification_id: int) -> None:
    from .services.notifications import send_notification

    send_notification(notification_id)


@shared_task(name="django_idp_logout.deliver_due_notifications", ignore_result=True)
def deliver_due_notifications(limit: int = 500) -> dict:
    from .services.notifications import deliver_due

    return deliver_due(limit=limit)
