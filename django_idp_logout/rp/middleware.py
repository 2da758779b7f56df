"""``RPLogoutMiddleware``: a local session that the OP logged out (back-channel or front-channel) is
signed out on its next request, whatever the session engine.

This is the denylist that makes logout work with ``signed_cookies`` (the session lives in the browser,
there is nothing to delete on the server), and it also covers a session whose key was cycled after
login. Place it after ``AuthenticationMiddleware``. It costs nothing for sessions that were not signed
in through the OP, and one indexed query for those that were.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import logout

from . import notice, services


class RPLogoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        local_key = None
        # Without a session cookie there is nothing to check; not touching the session then keeps
        # anonymous responses free of "Vary: Cookie".
        if session is not None and settings.SESSION_COOKIE_NAME in request.COOKIES:
            local_key = session.get(services.LOCAL_KEY_SESSION_KEY)
            if (
                local_key is None
                and session.is_empty()
                and services.ended_by_provider(session_key=request.COOKIES[settings.SESSION_COOKIE_NAME])
            ):
                # The OP's logout already deleted the stored session: say why the browser is signed out.
                setattr(request, notice.REQUEST_ATTRIBUTE, True)
        if local_key and not services.is_live(local_key=local_key):
            # logout() flushes the session (a signed cookie is replaced by an empty one), sets an
            # AnonymousUser and sends user_logged_out, so the rest of the site hears about it.
            logout(request)
            setattr(request, notice.REQUEST_ATTRIBUTE, True)  # the page can say why (rp.notice)
        response = self.get_response(request)
        notice.forget_note(request, response)
        return response
