"""A user's own view of their sessions: list the live ones, end one of them, end all the others.

Used alike by the "your sessions" page (``idp_logout:sessions``) and its JSON twin for API clients, so
both list the same sessions and end them the same way: through ``sessions.end_session`` (revocation per
coordination, back-channel notifications), with the reason ``remote_logout``.

A user can reach only their own live sessions: a ``sid`` of another user, an ended or an expired session
is "not found" (the views answer 404), whatever the caller passes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from ..conf import app_settings
from ..models import EndReason, SessionClient, UserSession
from .sessions import EndedSession, end_session, end_sessions


class SessionNotFound(LookupError):
    """No live session of this user has that ``sid``."""


@dataclass(frozen=True)
class SessionSummary:
    """One live session as its owner sees it."""

    sid: str
    browser: str
    os: str
    ip_address: str | None
    started_at: datetime
    last_activity: datetime
    client_names: list[str] = field(default_factory=list)
    current: bool = False

    @property
    def device(self) -> str:
        """How people name the device: "Firefox 130 on Linux"."""
        if self.browser and self.os:
            return gettext("%(browser)s on %(os)s") % {"browser": self.browser, "os": self.os}
        return self.browser or self.os or gettext("Unknown device")

    def as_json(self) -> dict:
        return {
            "sid": self.sid,
            "current": self.current,
            "device": self.device,
            "browser": self.browser,
            "os": self.os,
            "ip_address": self.ip_address,
            "started_at": self.started_at.isoformat(),
            "last_activity": self.last_activity.isoformat(),
            "clients": self.client_names,
        }


def live_sessions(user, *, now: datetime | None = None) -> QuerySet[UserSession]:
    """``user``'s sessions that are neither ended nor past their idle or absolute timeout (one indexed
    query; expired sessions the sweeper has not ended yet do not count)."""
    now = now or timezone.now()
    query = UserSession.objects.filter(user=user, ended_at__isnull=True)
    idle, absolute = app_settings.SESSION_IDLE_TIMEOUT, app_settings.SESSION_ABSOLUTE_TIMEOUT
    conditions = Q()
    if idle:
        conditions &= Q(last_activity__gt=now - timedelta(seconds=idle))
    if absolute:
        conditions &= Q(created_at__gt=now - timedelta(seconds=absolute))
    return query.filter(conditions)


def list_sessions(*, user, current_sid: str | None = None) -> list[SessionSummary]:
    """``user``'s live sessions, most recently active first, with the names of their clients (two
    queries whatever the number of sessions)."""
    rows = list(live_sessions(user).order_by("-last_activity", "-created_at"))
    names: dict[int, list[str]] = defaultdict(list)
    for session_id, name, client_id in (
        SessionClient.objects.filter(user_session__in=[row.pk for row in rows])
        .order_by("joined_at", "pk")
        .values_list("user_session_id", "application__name", "application__client_id")
    ):
        names[session_id].append(name or client_id)
    return [
        SessionSummary(
            sid=row.sid,
            browser=row.browser,
            os=row.os,
            ip_address=row.ip_address,
            started_at=row.created_at,
            last_activity=row.last_activity,
            client_names=names[row.pk],
            current=bool(current_sid) and row.sid == current_sid,
        )
        for row in rows
    ]


def end_own_session(*, user, sid: str, keep_sid: str | None = None) -> EndedSession:
    """End ``user``'s live session ``sid`` (reason ``remote_logout``). ``keep_sid`` (the caller's own
    browser session) cannot be ended this way: that is what the logout page is for.

    Raises ``SessionNotFound`` for anything else: another user's sid, an ended or expired session.
    """
    user_session = live_sessions(user).filter(sid=sid).exclude(sid=keep_sid or "").first()
    if user_session is None:
        raise SessionNotFound(sid)
    return end_session(user_session=user_session, reason=EndReason.REMOTE_LOGOUT)


def end_other_sessions(*, user, keep_sid: str | None) -> list[EndedSession]:
    """End every live session of ``user`` except ``keep_sid`` ("sign out everywhere else")."""
    others = live_sessions(user).exclude(sid=keep_sid or "")
    return end_sessions(others, reason=EndReason.REMOTE_LOGOUT)


def signed_in_recently(auth_time: float | None, *, now: float) -> bool:
    """Whether a sign-in at ``auth_time`` (epoch seconds) is recent enough for "sign out everywhere
    else" under ``REQUIRE_RECENT_LOGIN_FOR_END_OTHERS`` (None: always)."""
    window = app_settings.REQUIRE_RECENT_LOGIN_FOR_END_OTHERS
    if window is None:
        return True
    return isinstance(auth_time, (int, float)) and 0 <= now - auth_time <= window
