"""``"sync"`` delivery: send in the calling thread (after commit), one notification after another."""

from ..services.notifications import send_notification


def dispatch(ids: list[int]) -> None:
    for notification_id in ids:
        send_notification(notification_id)
