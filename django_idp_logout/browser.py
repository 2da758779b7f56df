"""The link between a browser's Django session and its ``UserSession``.

The ``sid`` is kept in the Django session itself, so this works alike for every session engine
(database, cache, files, signed cookies) and needs no per-backend code. It survives a re-login of the
same user (Django keeps session data on ``cycle_key``) and goes with ``flush()`` on logout.
"""

from __future__ import annotations

import time

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest

from . import devices
from .models import UserSession
from .services import sessions

SID_SESSION_KEY = "_idp_logout_sid"
#: When this browser last signed in (epoch seconds): "sign out everywhere else" may ask for a recent one.
AUTH_TIME_SESSION_KEY = "_idp_logout_auth_time"
#: Set on a request whose login the session limit refused (``deny_new``); the middleware answers it.
LOGIN_DENIED_ATTR = "idp_logout_login_denied"
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
    """Start a session for this browser (recording its device) and remember its sid."""
    user_session = sessions.start_session(user=user, details=devices.from_request(request).as_fields())
    return attach(request, user_session)


def attach(request: HttpRequest, user_session: UserSession) -> UserSession:
    request.session[SID_SESSION_KEY] = user_session.sid
    setattr(request, _CACHE_ATTR, user_session)
    return user_session


def record_sign_in_time(request: HttpRequest) -> None:
    request.session[AUTH_TIME_SESSION_KEY] = int(time.time())


def sign_in_time(request: HttpRequest) -> float | None:
    return request.session.get(AUTH_TIME_SESSION_KEY)


def undo_login(request: HttpRequest, *, limit: int | None) -> None:
    """Take back a login that has just happened (``user_logged_in`` is the last step of ``login()``):
    the browser is anonymous again, with a fresh empty session, and no server-side session starts.
    No ``user_logged_out`` is sent: for every other part of the system, nobody signed in."""
    request.session.flush()
    request.user = AnonymousUser()
    setattr(request, LOGIN_DENIED_ATTR, limit or True)


def current_sid(request: HttpRequest) -> str:
    """The ``sid`` of this signed-in browser; "" for anonymous visitors (nothing is written then)."""
    user_session = current_user_session(request)
    return user_session.sid if user_session else ""
