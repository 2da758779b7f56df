"""Bearer-token authentication for our own small resource endpoints (the sessions API), with DOT's
token validation: the same look-up, expiry, scope and RFC 8707 audience rules as DOT's
``ProtectedResourceView``, but answered as JSON (RFC 6750 section 3 errors) instead of a bare 403.

Only the ``Authorization`` header is read, after it passed the one gate for untrusted text; tokens in the
query string are refused (RFC 9700 section 4.3.2), and the body is never handed to oauthlib.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from django.http import HttpRequest
from oauth2_provider.oauth2_backends import get_oauthlib_core

from .. import untrusted


@dataclass(frozen=True)
class BearerError(Exception):
    """Why a request carries no usable access token: ``error`` is RFC 6750's code."""

    error: str
    description: str
    status: int

    @property
    def www_authenticate(self) -> str:
        return f'Bearer error="{self.error}", error_description="{self.description}"'


def authenticate_bearer(request: HttpRequest, *, scope: str):
    """The valid DOT access token of ``request`` that has ``scope`` and belongs to a user; else raise
    ``BearerError`` (400 ``invalid_request``, 401 ``invalid_token``, 403 ``insufficient_scope``)."""
    if "access_token" in request.GET:
        raise BearerError("invalid_request", "Send the access token in the Authorization header.", 400)
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        raise BearerError("invalid_token", "An access token is required.", HTTPStatus.UNAUTHORIZED)
    try:
        header = untrusted.text(header, name="Authorization", max_length=untrusted.MAX_LENGTH)
    except untrusted.MalformedInput as exc:
        raise BearerError("invalid_request", str(exc), HTTPStatus.BAD_REQUEST) from None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or any(ch.isspace() for ch in token.strip()):
        raise BearerError("invalid_request", "Use the Bearer authorization scheme.", HTTPStatus.BAD_REQUEST)
    server = get_oauthlib_core().server
    valid, oauth_request = server.verify_request(
        request.build_absolute_uri(request.path),
        "GET",
        None,
        {"Authorization": f"Bearer {token.strip()}"},
        scopes=[scope],
    )
    if not valid:
        error = getattr(oauth_request, "oauth2_error", None) or {}
        if error.get("error") == "insufficient_scope":
            raise BearerError(
                "insufficient_scope", f"The access token needs the {scope!r} scope.", HTTPStatus.FORBIDDEN
            )
        raise BearerError(
            "invalid_token", "The access token is invalid or has expired.", HTTPStatus.UNAUTHORIZED
        )
    access_token = oauth_request.access_token
    if access_token.user_id is None:
        raise BearerError(
            "invalid_token", "The access token was not issued for a user.", HTTPStatus.FORBIDDEN
        )
    return access_token


def session_of_token(access_token):
    """The ``UserSession`` an access token was issued in (None: bound to no session)."""
    from ..models import SessionToken

    binding = SessionToken.objects.filter(access_token=access_token).select_related("user_session").first()
    return binding.user_session if binding else None
