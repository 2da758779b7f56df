"""Receivers for Django's auth signals: index a session signed in through the OP, and close its index
row on a local logout.

mozilla-django-oidc stores the ID token it has just verified in ``request.session["oidc_id_token"]``
(only with ``OIDC_STORE_ID_TOKEN = True``) before it calls ``auth.login``, so ``user_logged_in`` can read
``iss``, ``sub`` and ``sid`` from it without verifying it again. ``user_logged_out`` fires before the
session is flushed, so the local key can still be read there.
"""

from __future__ import annotations

import base64
import binascii
import json

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from . import services
from .models import EndReason

ID_TOKEN_SESSION_KEY = "oidc_id_token"  # mozilla-django-oidc's key


def unverified_claims(id_token: object) -> dict | None:
    """The payload of a compact JWS, NOT verified: only for a token the login has just verified."""
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return None
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


@receiver(user_logged_in, dispatch_uid="django_idp_logout.rp.receivers.index_session")
def index_session_on_login(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    if session is None:
        return
    # A new login in a browser that was already signed in replaces that session's row.
    previous = session.pop(services.LOCAL_KEY_SESSION_KEY, None)
    if previous:
        services.end_local(local_key=previous, reason=EndReason.REPLACED)
    claims = unverified_claims(session.get(ID_TOKEN_SESSION_KEY))
    if claims is None:
        return  # not an OIDC login (or OIDC_STORE_ID_TOKEN is off): nothing the OP could log out
    local_key = services.new_local_key()
    session_key = services.server_side_session_key(session)
    if services.index_session(local_key=local_key, session_key=session_key, user=user, claims=claims):
        session[services.LOCAL_KEY_SESSION_KEY] = local_key


@receiver(user_logged_out, dispatch_uid="django_idp_logout.rp.receivers.end_on_logout")
def end_on_local_logout(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    local_key = session.get(services.LOCAL_KEY_SESSION_KEY) if session is not None else None
    if local_key:
        services.end_local(local_key=local_key, reason=EndReason.LOCAL_LOGOUT)
