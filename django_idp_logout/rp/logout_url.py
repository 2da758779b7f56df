"""The RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0, section 2), for
mozilla-django-oidc's ``OIDC_OP_LOGOUT_URL_METHOD``.

``OIDCLogoutView`` calls the method before ``auth.logout()``, so the session still holds the ID token
(``OIDC_STORE_ID_TOKEN = True``) to send as ``id_token_hint``; it then redirects the browser to the URL
returned here.

``state`` is a fresh random value. The kit does not check it when the browser comes back: the session
has been flushed by then, so there is nowhere to keep it, and a signed-out landing page has nothing
to protect. It still lets the OP's logs and the landing page correlate the round trip; a site that wants
to verify it can wrap this function and keep the value in a signed cookie.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.shortcuts import resolve_url
from django.urls import get_script_prefix

from .conf import rp_settings
from .receivers import ID_TOKEN_SESSION_KEY


def post_logout_redirect_uri(request) -> str:
    """``POST_LOGOUT_REDIRECT_URI``, or this site's root as an absolute URL."""
    return rp_settings.POST_LOGOUT_REDIRECT_URI or request.build_absolute_uri(get_script_prefix())


def provider_logout_url(request) -> str:
    """The OP's end session endpoint with ``client_id``, ``id_token_hint`` (when the session stored
    it), ``post_logout_redirect_uri`` and ``state``; without ``END_SESSION_ENDPOINT`` there is no OP
    logout, and the local ``LOGOUT_REDIRECT_URL`` (or "/") is returned, as mozilla-django-oidc would."""
    endpoint = rp_settings.END_SESSION_ENDPOINT
    if not endpoint:
        return resolve_url(getattr(settings, "LOGOUT_REDIRECT_URL", None) or "/")
    params = {}
    if rp_settings.client_id:
        params["client_id"] = rp_settings.client_id
    id_token = request.session.get(ID_TOKEN_SESSION_KEY) if hasattr(request, "session") else None
    if isinstance(id_token, str) and id_token:
        params["id_token_hint"] = id_token
    params["post_logout_redirect_uri"] = post_logout_redirect_uri(request)
    params["state"] = secrets.token_urlsafe(24)
    # Keep a query the endpoint already has (some OPs need e.g. a tenant or policy parameter).
    scheme, netloc, path, query, _fragment = urlsplit(endpoint)
    pairs = [*parse_qsl(query, keep_blank_values=True), *params.items()]
    return urlunsplit((scheme, netloc, path, urlencode(pairs), ""))
