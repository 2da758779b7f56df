"""``UserSessionMiddleware``: a session ended elsewhere (admin, expiry, API, upstream) is dead in the
browser on its next request, whatever the session engine; live sessions record activity.

Place it after ``AuthenticationMiddleware``. It costs one indexed query per signed-in request, and a
write at most once per ``SESSION_ACTIVITY_RESOLUTION`` seconds.
"""

from __future__ import annotations

from django.contrib.auth import logout

from . import browser
from .services import sessions


class UserSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user_session = browser.current_user_session(request)
        if user_session is not None:
            if user_session.ended_at is None and (reason := sessions.expiry_reason(user_session)):
                sessions.end_session(user_session=user_session, reason=reason)
            if user_session.ended_at is not None:
                logout(request)
            else:
                sessions.record_activity(user_session)
        return self.get_response(request)
