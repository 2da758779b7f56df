"""``UserSessionMiddleware``: a session ended elsewhere (admin, expiry, API, upstream) is dead in the
browser on its next request, whatever the session engine; live sessions record activity.

It also ends the server-side session of a Django session that was flushed without ``logout()``
(a password change on another device invalidates the session auth hash). On the way out it keeps the
Session Management browser-state cookie in step with the session (``browser_state``). Place it after
``AuthenticationMiddleware``. It costs one indexed query per signed-in request, and a
write at most once per ``SESSION_ACTIVITY_RESOLUTION`` seconds.

A login that the concurrent session limit refused (``deny_new``) is answered with a redirect to the
page that says why (``idp_logout:session_limit``).
"""

from __future__ import annotations

from django.contrib.auth import logout
from django.http import HttpResponseRedirect
from django.urls import reverse

from . import browser, browser_state
from .models import EndReason, UserSession
from .services import sessions


class UserSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sid = request.session.get(browser.SID_SESSION_KEY) if hasattr(request, "session") else None
        if sid and not request.user.is_authenticated:
            # Django flushed the session without logout() (the password changed: the session auth hash
            # no longer matches), so no signal told us: end the server-side session here.
            sessions.end_sessions(UserSession.objects.filter(sid=sid), reason=EndReason.TERMINATED)
        user_session = browser.current_user_session(request)
        if user_session is not None:
            if user_session.ended_at is None and (reason := sessions.expiry_reason(user_session)):
                sessions.end_session(user_session=user_session, reason=reason)
            if user_session.ended_at is not None:
                logout(request)
            else:
                sessions.record_activity(user_session)
        response = self.get_response(request)
        if getattr(request, browser.LOGIN_DENIED_ATTR, None):
            # The session limit refused this login (deny_new): say why instead of where the login
            # would have gone.
            response = HttpResponseRedirect(reverse("idp_logout:session_limit"))
        browser_state.update_cookie(request, response)
        return response
