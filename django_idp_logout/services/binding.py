"""The binding between a ``logout_id`` and the login session it was made for.

A ``logout_id`` that skips the prompt must never log out anyone but the session that asked for it
(DESIGN rule 5). Each signed-in Django session gets a random binding value, kept in the session itself
(so it works with every session engine and survives ``cycle_key`` on re-login of the same user); the
``logout_id`` carries it and the logout page compares. Nothing is written for anonymous visitors.
"""

from __future__ import annotations

import secrets

from django.http import HttpRequest
from django.utils.crypto import constant_time_compare

SESSION_KEY = "_idp_logout_binding"


def current_binding(request: HttpRequest, *, create: bool = True) -> str:
    """The binding value of the signed-in session; "" for anonymous visitors."""
    if not request.user.is_authenticated:
        return ""
    value = request.session.get(SESSION_KEY)
    if not value and create:
        value = secrets.token_urlsafe(24)
        request.session[SESSION_KEY] = value
    return value or ""


def matches(request: HttpRequest, binding: str) -> bool:
    """True when ``binding`` was made for the session of this request (never for anonymous)."""
    own = current_binding(request, create=False)
    return bool(own) and bool(binding) and constant_time_compare(own, binding)
