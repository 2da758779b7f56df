"""OpenID Connect Session Management 1.0 on the example client site (on when CLIENT_CHECK_SESSION=1).

mozilla-django-oidc drops the authorization response's ``session_state``; this callback view keeps it in
the session, and the context processor hands it, with the identity provider's check_session_iframe, to
``example_client/session_check.html``, whose script (``static/example_client/session_check.js``) polls
the iframe and says so on the page when the identity provider's session changed.
"""

import re

from django.conf import settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView

SESSION_STATE_KEY = "example_client_session_state"
# What the page will accept as a session_state: printable, no spaces, bounded (it goes into a message).
_SESSION_STATE = re.compile(r"[\x21-\x7e]{1,512}")


class SessionStateCallbackView(OIDCAuthenticationCallbackView):
    """mozilla-django-oidc's callback, keeping ``session_state`` after a successful sign-in."""

    def login_success(self):
        response = super().login_success()
        session_state = self.request.GET.get("session_state", "")
        if _SESSION_STATE.fullmatch(session_state):
            self.request.session[SESSION_STATE_KEY] = session_state
        else:
            self.request.session.pop(SESSION_STATE_KEY, None)
        return response


def context(request):
    """``check_session`` for the page: the iframe URL, the client id and the session_state."""
    session_state = request.session.get(SESSION_STATE_KEY) if hasattr(request, "session") else None
    user = getattr(request, "user", None)
    if not settings.CLIENT_CHECK_SESSION or not session_state or not (user and user.is_authenticated):
        return {}
    return {
        "check_session": {
            "iframe_url": settings.IDP_CHECK_SESSION_IFRAME,
            "client_id": settings.OIDC_RP_CLIENT_ID,
            "session_state": session_state,
        }
    }
