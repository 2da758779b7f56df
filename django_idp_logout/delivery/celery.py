"""``"celery"`` delivery: one Celery task per hand-off (a logout's notifications together).

The task is sent by name, so this module needs neither ``django_idp_logout.tasks`` nor the services:
the task (``deliver_backchannel_notifications``) claims, signs and sends the batch on an event loop.
"""

from __future__ import annotations

TASK_NAME = "django_idp_logout.deliver_backchannel_notifications"


def enqueue(ids: list[int]) -> None:
    from celery import current_app

    current_app.send_task(TASK_NAME, args=[list(ids)])
