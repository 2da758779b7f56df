"""``session_state`` in successful OpenID Connect authorization responses (Session Management 1.0, 3).

The backend mixin calls ``add_session_state`` with the redirect oauthlib built. The parameter goes where
the response's other parameters are: the fragment when there is one (implicit and hybrid flows, and
``response_mode=fragment``), else the query, the rule DOT itself uses for RFC 9207's ``iss``. Error
responses, requests without the ``openid`` scope, and redirect URIs without an http(s) origin (native
apps' custom schemes, which no iframe can serve) get nothing.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django.http import HttpRequest

from .. import browser
from ..conf import app_settings
from ..services.session_state import browser_state, compute_session_state, new_salt, origin_of

PARAMETER = "session_state"
# Parameters only a successful authorization response carries (RFC 6749 4.1.2 / 4.2.2, OIDC Core 3.3.2.5).
_SUCCESS_PARAMETERS = ("code", "access_token", "id_token")


def add_session_state(request: HttpRequest, location: str, *, client_id: str, scopes) -> str:
    """``location`` with ``session_state`` added, or unchanged when it does not apply."""
    if not app_settings.CHECK_SESSION_IFRAME_ENABLED or "openid" not in _scope_list(scopes):
        return location
    user_session = browser.current_user_session(request, create=False)
    state = browser_state(user_session)
    origin = origin_of(location)
    if not state or origin is None or not client_id:
        return location
    parts = urlsplit(location)
    in_fragment = bool(parts.fragment)
    component = parts.fragment if in_fragment else parts.query
    params = parse_qs(component, keep_blank_values=True)
    if "error" in params or not any(name in params for name in _SUCCESS_PARAMETERS):
        return location
    value = compute_session_state(client_id=client_id, origin=origin, browser_state=state, salt=new_salt())
    # Appended, so the parameters oauthlib encoded (and the registered URI's own query) stay byte for byte.
    component = f"{component}&{urlencode({PARAMETER: value})}"
    if in_fragment:
        return urlunsplit(parts._replace(fragment=component))
    return urlunsplit(parts._replace(query=component))


def _scope_list(scopes) -> list[str]:
    if isinstance(scopes, str):
        return scopes.split()
    return list(scopes or [])
