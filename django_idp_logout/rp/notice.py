"""Telling the user, once, that the OP signed them out (front-channel or back-channel logout).

When the kit signs a browser out because its session ended at the OP, the site would otherwise show a
bare "not signed in", and the user cannot tell a sign-out everywhere from an expired cookie. A page
asks ``signed_out_by_provider(request)`` and can then say "you were signed out everywhere":

- on the request where ``RPLogoutMiddleware`` signed the browser out (back-channel logout, or any
  session the OP ended), the request carries the note;
- after the front-channel iframe signed this browser out, a short-lived cookie carries it to the next
  request (named after ``SESSION_COOKIE_NAME``, so sites sharing a host keep their own), and the
  middleware removes it with that request's response. No session is written for it.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse

#: The attribute ``RPLogoutMiddleware`` sets on the request it signed out.
REQUEST_ATTRIBUTE = "idp_logout_rp_signed_out"
#: How long the front-channel note waits for the browser's next request, in seconds.
NOTICE_MAX_AGE = 3600


def notice_cookie_name() -> str:
    return f"{settings.SESSION_COOKIE_NAME}_signed_out"


def signed_out_by_provider(request: HttpRequest) -> bool:
    """Whether the kit signed this browser out on the OP's request, on this request or just before."""
    return (
        bool(getattr(request, REQUEST_ATTRIBUTE, False)) or request.COOKIES.get(notice_cookie_name()) == "1"
    )


def note_on_response(response: HttpResponse) -> None:
    """Leave the note for the browser's next request (the front-channel view, after ``logout()``)."""
    response.set_cookie(
        notice_cookie_name(),
        "1",
        max_age=NOTICE_MAX_AGE,
        path=settings.SESSION_COOKIE_PATH,
        domain=settings.SESSION_COOKIE_DOMAIN,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite=settings.SESSION_COOKIE_SAMESITE,
    )


def forget_note(request: HttpRequest, response: HttpResponse) -> None:
    """The note has been seen by one request: remove it (unless this response just set it)."""
    name = notice_cookie_name()
    if name in request.COOKIES and name not in response.cookies:
        response.delete_cookie(
            name,
            path=settings.SESSION_COOKIE_PATH,
            domain=settings.SESSION_COOKIE_DOMAIN,
            samesite=settings.SESSION_COOKIE_SAMESITE,
        )
