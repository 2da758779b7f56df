"""The OP browser-state cookie of OpenID Connect Session Management 1.0 (``BROWSER_STATE_COOKIE_NAME``).

``UserSessionMiddleware`` calls ``update_cookie`` on every response. The value is derived from the
browser's live ``UserSession`` as it stands after the view ran, not written by the code that signs in
or out: so it is right on the next response whatever started or ended the session (the login form,
the logout page, ``auth.logout`` anywhere, the admin, expiry, a session limit, an upstream logout). A
session ended without the browser (admin, expiry, upstream back-channel) shows in the cookie on the
browser's next request to the OP.

The check_session_iframe's script must read it, so it is not HttpOnly. On https (or with
``SESSION_COOKIE_SECURE``) it is
``SameSite=None; Secure`` (an iframe on an RP's site is a third-party context); on http, where browsers
refuse ``SameSite=None`` without ``Secure``, it is ``Lax`` and works only for RPs on the same site.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from . import browser
from .conf import app_settings
from .services.session_state import browser_state


def current_browser_state(request: HttpRequest) -> str:
    """The browser state this response leaves in the browser ("" when there is no live session)."""
    return browser_state(browser.current_user_session(request, create=False))


def update_cookie(request: HttpRequest, response: HttpResponseBase) -> None:
    """Set, change or delete the cookie when the browser's copy differs from the current state."""
    name = app_settings.BROWSER_STATE_COOKIE_NAME
    sent = request.COOKIES.get(name)
    state = current_browser_state(request) if app_settings.CHECK_SESSION_IFRAME_ENABLED else ""
    if state == (sent or ""):
        return
    # Behind a TLS-terminating proxy without SECURE_PROXY_SSL_HEADER, SESSION_COOKIE_SECURE still says https.
    secure = request.is_secure() or settings.SESSION_COOKIE_SECURE
    samesite = "None" if secure else "Lax"
    if not state:
        response.delete_cookie(name, path="/", domain=settings.SESSION_COOKIE_DOMAIN, samesite=samesite)
        return
    response.set_cookie(
        name,
        state,
        max_age=_max_age(request),
        path="/",
        domain=settings.SESSION_COOKIE_DOMAIN,
        secure=secure,
        httponly=False,  # the check_session_iframe's script reads it
        samesite=samesite,
    )


def _max_age(request: HttpRequest) -> int | None:
    """Not longer than the Django session cookie: a browser-session cookie when that one is."""
    session = getattr(request, "session", None)
    if session is None or session.get_expire_at_browser_close():
        return None
    return session.get_expiry_age()
