"""The stable Python API of django-idp-logout. Anything not re-exported here is private.

Session management (Duende's ``ISessionManagementService``)::

    from django_idp_logout import api

    api.query_sessions(user=alice, client_id="portal", active=True)
    api.end_sessions(api.query_sessions(user=alice), reason="terminated")
    api.end_other_sessions(request)  # "sign out my other devices"
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from .models import EndReason, UserSession
from .services.context import InvalidLogoutId, LogoutRequest, get_logout_context
from .services.sessions import EndedSession, end_session, end_sessions

__all__ = [
    "EndReason",
    "EndedSession",
    "InvalidLogoutId",
    "LogoutRequest",
    "UserSession",
    "end_other_sessions",
    "end_session",
    "end_sessions",
    "get_logout_context",
    "query_sessions",
]


def query_sessions(
    *,
    user=None,
    client_id: str | None = None,
    active: bool | None = True,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
    active_since: datetime | None = None,
) -> QuerySet[UserSession]:
    """Sessions filtered by user, client (took part), state and time; newest first."""
    sessions = UserSession.objects.all()
    if user is not None:
        sessions = sessions.filter(user=user)
    if client_id is not None:
        sessions = sessions.filter(session_clients__application__client_id=client_id)
    if active is True:
        sessions = sessions.active()
    elif active is False:
        sessions = sessions.ended()
    if started_after is not None:
        sessions = sessions.filter(created_at__gte=started_after)
    if started_before is not None:
        sessions = sessions.filter(created_at__lt=started_before)
    if active_since is not None:
        sessions = sessions.filter(last_activity__gte=active_since)
    return sessions.order_by("-created_at")


def end_other_sessions(request, *, reason: str = EndReason.TERMINATED) -> list[EndedSession]:
    """End every other active session of the signed-in user ("sign out my other devices")."""
    from .browser import current_user_session

    own = current_user_session(request)
    others = query_sessions(user=request.user)
    if own is not None:
        others = others.exclude(pk=own.pk)
    return end_sessions(others, reason=reason)
