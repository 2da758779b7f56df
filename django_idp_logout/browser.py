"""The link between a browser's Django session and its ``UserSession``.

The ``sid`` is kept in the Django session itself, so this works alike for every session engine
(database, cache, files, signed cookies) and needs no per-backend code. It survives a re-login of the
same user (Django keeps session data on ``cycle_key``) and goes with ``flush()`` on logout.
"""

from __future__ import annotations

from django.http import HttpRequest

from .models import UserSession
from .services import sessions

SID_SESSION_KEY = "_idp_logout_sid"
_CACHE_ATTR = "_idp_logout_user_session"


def current_user_session(request: HttpRequest, *, create: bool = True) -> UserSession | None:
    """The ``UserSession`` of this signed-in browser (created on first use when ``create``)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is not None and cached.user_id == user.pk:
        return cached
    sid = request.session.get(SID_SESSION_KEY)
    user_session = UserSession.objects.filter(sid=sid, user=user).first() if sid else None
    if user_session is None and create:
        user_session = attach_new_session(request, user)
    setattr(request, _CACHE_ATTR, user_session)
    return user_session


def attach_new_session(request: HttpRequest, user) -> UserSession:
    user_session = sessions.start_session(user=user)
    request.session[SID_SESSION_KEY] = user_session.sid
    setattr(request, _CACHE_ATTR, user_session)
    return user_session


def current_sid(request: HttpRequest) -> str:
    """The ``sid`` of this signed-in browser; "" for anonymous visitors (nothing is written then)."""
    user_session = current_user_session(request)
    return user_session.sid if user_session else ""
