"""``"celery"`` delivery: one Celery task per notification (``django_idp_logout.tasks``)."""


def dispatch(ids: list[int]) -> None:
    from ..tasks import deliver_backchannel_notification

    for notification_id in ids:
        deliver_backchannel_notification.delay(notification_id)
