"""Concurrent session limits: ``MAX_SESSIONS_PER_USER`` and ``SESSION_LIMIT_POLICY``.

A new login (never a re-login in the same browser, which keeps its session) starts a session only
within the user's limit:

- ``end_oldest``: the user's least recently active live sessions end (reason ``session_limit``, through
  ``sessions.end_sessions``: tokens revoked per coordination, clients notified) to make room;
- ``deny_new``: no session starts; the caller undoes the login and says why.

Race-proof: the count and the new row happen under a lock on the user's row (``SELECT ... FOR UPDATE``),
so concurrent logins of one user queue up and never leave more live sessions than the limit.
Expired sessions the sweeper has not ended yet do not count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import router, transaction
from django.utils.module_loading import import_string

from ..conf import app_settings
from ..models import EndReason, UserSession
from . import sessions
from .user_sessions import live_sessions

END_OLDEST = "end_oldest"
DENY_NEW = "deny_new"
POLICIES = (END_OLDEST, DENY_NEW)


@dataclass
class LoginOutcome:
    """What a login got: a session, or a refusal (``denied``) under ``deny_new``."""

    user_session: UserSession | None
    limit: int | None = None
    ended: list[sessions.EndedSession] = field(default_factory=list)

    @property
    def denied(self) -> bool:
        return self.user_session is None


def limit_for(user) -> int | None:
    """The user's limit: ``MAX_SESSIONS_PER_USER`` as an int, or the result of the function its dotted
    path names (``f(user) -> int | None``); None means no limit, and anything below 1 counts as 1 (a
    login always gets its own session)."""
    setting = app_settings.MAX_SESSIONS_PER_USER
    if isinstance(setting, str):
        setting = import_string(setting)(user)
    if setting is None:
        return None
    return max(int(setting), 1)


def start_session_within_limit(*, user, details: dict | None = None) -> LoginOutcome:
    """Start a session for ``user`` if the limit allows (making room under ``end_oldest``)."""
    limit = limit_for(user)
    if limit is None:
        return LoginOutcome(user_session=sessions.start_session(user=user, details=details))
    User = get_user_model()
    with transaction.atomic(using=router.db_for_write(UserSession)):
        # The lock that serialises this user's logins; other users are not held up.
        User._default_manager.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()
        live = list(live_sessions(user).order_by("last_activity", "created_at").values_list("pk", flat=True))
        excess = len(live) + 1 - limit
        ended: list[sessions.EndedSession] = []
        if excess > 0:
            if app_settings.SESSION_LIMIT_POLICY == DENY_NEW:
                return LoginOutcome(user_session=None, limit=limit)
            ended = sessions.end_sessions(
                UserSession.objects.filter(pk__in=live[:excess]), reason=EndReason.SESSION_LIMIT
            )
        user_session = sessions.start_session(user=user, details=details)
    return LoginOutcome(user_session=user_session, limit=limit, ended=ended)
